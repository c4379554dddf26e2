/** Every migration, in order. Committed and run at start-up; never edited once released. */
import { InitialSchema1764000000000 } from './1764000000000-initial-schema.js';
import { LifeCycleAndEvents1764100000000 } from './1764100000000-life-cycle-and-events.js';
import { EnrollmentCredentials1764200000000 } from './1764200000000-enrollment-credentials.js';
import { CrlShards1764300000000 } from './1764300000000-crl-shards.js';
import { AccessAndTrust1764400000000 } from './1764400000000-access-and-trust.js';
import { AuthorityNames1764500000000 } from './1764500000000-authority-names.js';
import { TenantRootRollover1764600000000 } from './1764600000000-tenant-root-rollover.js';

export const MIGRATIONS = [InitialSchema1764000000000, LifeCycleAndEvents1764100000000, EnrollmentCredentials1764200000000, CrlShards1764300000000, AccessAndTrust1764400000000, AuthorityNames1764500000000, TenantRootRollover1764600000000];
