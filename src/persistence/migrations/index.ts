/** Every migration, in order. Committed and run at start-up; never edited once released. */
import { InitialSchema1764000000000 } from './1764000000000-initial-schema.js';

export const MIGRATIONS = [InitialSchema1764000000000];
