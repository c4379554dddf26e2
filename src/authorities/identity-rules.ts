/**
 * Identity rules of a CA: which subject attributes of the certificates it
 * issued name the device and its type (CN by default; e.g. OU for the type,
 * as withthegrid does), and the subject policy CSRs must meet before the CA
 * signs them. Plain data on the authority record; null means the defaults.
 */
import type { DistinguishedName, NameAttribute } from '../issuance/distinguished-name.js';
import { AuthenticationRefused } from '../shared/errors.js';

/** One requirement on a CSR subject attribute: present, and (optionally) equal to a value or matching a pattern. */
export interface SubjectRequirement {
  readonly attribute: NameAttribute;
  /** Exact value; "{tenantId}" stands for the tenant's id. */
  readonly equals?: string;
  /** ECMAScript regular expression (unicode mode) the whole value must match. */
  readonly pattern?: string;
}

export interface IdentityRules {
  /** The attribute whose value is the device identity. */
  readonly identityAttribute: NameAttribute;
  /** The attribute whose value is the device type; null: devices have no type. */
  readonly deviceTypeAttribute: NameAttribute | null;
  /** Requirements a CSR subject must meet (issuance from a CSR, EST). */
  readonly subjectPolicy: readonly SubjectRequirement[];
}

export const DEFAULT_IDENTITY_RULES: IdentityRules = Object.freeze({ identityAttribute: 'CN', deviceTypeAttribute: null, subjectPolicy: Object.freeze([]) });

export interface DeviceIdentity {
  readonly identity: string;
  readonly deviceType: string | null;
}

/**
 * The device identity and type a subject gives under `rules`. A subject
 * without exactly one value for a named attribute cannot be mapped: the
 * certificate is refused (identity-unmapped), never guessed at.
 */
export function mapDeviceIdentity(subject: DistinguishedName, rules: IdentityRules | null): DeviceIdentity {
  const effective = rules ?? DEFAULT_IDENTITY_RULES;
  const identity = singleValue(subject, effective.identityAttribute);
  const deviceType = effective.deviceTypeAttribute === null ? null : singleValue(subject, effective.deviceTypeAttribute);
  return { identity, deviceType };
}

function singleValue(subject: DistinguishedName, attribute: NameAttribute): string {
  const values = subject.filter((entry) => entry.attribute === attribute).map((entry) => entry.value);
  if (values.length !== 1 || values[0]!.length === 0) {
    throw new AuthenticationRefused('identity-unmapped', `the certificate subject must carry exactly one ${attribute} to name the device`, { attribute });
  }
  return values[0]!;
}
