/**
 * Identity rules of a CA: which subject attributes of the certificates it
 * issued name the device and its type (CN by default; e.g. OU for the type,
 * as withthegrid does), and the subject policy CSRs must meet before the CA
 * signs them. Plain data on the authority record; null means the defaults.
 * Owns their validation (what an administrator or tenant may set), the
 * policy check at issuance and the mapping at authentication.
 */
import vm from 'node:vm';
import { isNameAttribute, writtenStringType, type DecodedNameEntry, type DistinguishedName, type NameAttribute } from '../codec/distinguished-name.js';
import { subjectTextProblem } from '../codec/subject-text.js';
import { AuthenticationRefused, DomainError, InvalidRequest } from '../shared/errors.js';

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

/**
 * Subject attributes a device CSR may carry; anything else is a policy
 * violation, not silently dropped. So these are also the only attributes a
 * subject policy, or the identity rules of a CA ccm signs with, can name.
 */
export const CSR_SUBJECT_ATTRIBUTES: readonly NameAttribute[] = Object.freeze(['CN', 'O', 'OU', 'C', 'L', 'ST', 'serialNumber']);

/** Bounds on what may be set: a policy is a short list of short rules, not a program. */
export const IDENTITY_RULE_LIMITS = Object.freeze({
  /** One per attribute a CSR may carry; checked before the requirements are, so a huge list costs nothing. */
  requirements: CSR_SUBJECT_ATTRIBUTES.length,
  /** In characters; ub-common-name and the like are 64 (RFC 5280 Appendix A). */
  equalsLength: 64,
  /** In UTF-16 code units of the source text. */
  patternLength: 256,
  /**
   * Longest value a pattern is evaluated against, in characters: the largest
   * upper bound among CSR_SUBJECT_ATTRIBUTES (L and ST, ub-locality-name and
   * ub-state-name). A longer value is refused before any pattern runs.
   */
  evaluatedValueLength: 128,
});

/** The only placeholder `equals` knows; any other "{name}" is refused as a likely typo rather than matched literally. */
const TENANT_ID_PLACEHOLDER = '{tenantId}';
const PLACEHOLDER = /\{[A-Za-z]+\}/gu;

/** Identity rules as a caller gives them: absent members take the defaults. Types are checked at the edge, meaning here. */
export interface IdentityRulesInput {
  readonly identityAttribute?: string | null;
  readonly deviceTypeAttribute?: string | null;
  readonly subjectPolicy?: readonly { readonly attribute: string; readonly equals?: string | null; readonly pattern?: string | null }[] | null;
}

/**
 * Checks rules an administrator or tenant wants to set and returns them
 * complete (absent members take the defaults). `signedByCcm`: the CA is one
 * ccm issues certificates with (a tenant root), so the identity attributes
 * must be ones a CSR may carry, and a subject policy means something; for an
 * external or delegated CA ccm signs nothing, so a subject policy there would
 * only give a false sense of enforcement and is refused.
 * Throws `invalid-request` with `field` naming the offending member.
 */
export function validateIdentityRules(input: IdentityRulesInput, options: { readonly signedByCcm: boolean }): IdentityRules {
  // A device always has an identity: null is refused, unlike for the type.
  const identityAttribute = input.identityAttribute === undefined ? DEFAULT_IDENTITY_RULES.identityAttribute : ruleAttribute(input.identityAttribute, 'identityAttribute', options.signedByCcm);
  const deviceTypeAttribute =
    input.deviceTypeAttribute === undefined || input.deviceTypeAttribute === null ? null : ruleAttribute(input.deviceTypeAttribute, 'deviceTypeAttribute', options.signedByCcm);
  if (deviceTypeAttribute === identityAttribute) {
    throw new InvalidRequest('deviceTypeAttribute must differ from identityAttribute: one attribute cannot name both the device and its type', { field: 'deviceTypeAttribute' });
  }
  const requested = input.subjectPolicy ?? [];
  if (requested.length > IDENTITY_RULE_LIMITS.requirements) {
    throw new InvalidRequest(`subjectPolicy has ${requested.length} requirements; at most ${IDENTITY_RULE_LIMITS.requirements} are allowed`, { field: 'subjectPolicy' });
  }
  if (requested.length > 0 && !options.signedByCcm) {
    throw new InvalidRequest('only a CA ccm signs with applies a CSR subject policy; this CA\'s certificates are issued elsewhere', { field: 'subjectPolicy' });
  }
  const subjectPolicy: SubjectRequirement[] = [];
  const constrained = new Set<NameAttribute>();
  requested.forEach((requirement, index) => {
    const field = `subjectPolicy[${index}]`;
    const attribute = ruleAttribute(requirement.attribute, `${field}.attribute`, true);
    if (constrained.has(attribute)) throw new InvalidRequest(`${field}.attribute: ${attribute} already has a requirement; give one per attribute`, { field: `${field}.attribute` });
    constrained.add(attribute);
    const equals = requirement.equals ?? undefined;
    const pattern = requirement.pattern ?? undefined;
    if (equals !== undefined && pattern !== undefined) throw new InvalidRequest(`${field}: give equals or pattern, not both`, { field });
    if (equals !== undefined) validateEquals(equals, `${field}.equals`);
    if (pattern !== undefined) {
      // A pattern is shown back and logged like a name; written out invisibly, a bidi override would make it read as another pattern ("Trojan Source"). An escape (\u{202E}) says the same visibly.
      const problem = subjectTextProblem(pattern);
      if (problem !== null) throw new InvalidRequest(`${field}.pattern ${problem}`, { field: `${field}.pattern` });
      compilePattern(pattern, `${field}.pattern`);
    }
    subjectPolicy.push({ attribute, ...(equals !== undefined ? { equals } : {}), ...(pattern !== undefined ? { pattern } : {}) });
  });
  return { identityAttribute, deviceTypeAttribute, subjectPolicy };
}

function ruleAttribute(value: string | null, field: string, mustBeInCsr: boolean): NameAttribute {
  if (typeof value !== 'string' || !isNameAttribute(value)) throw new InvalidRequest(`${field}: ${String(value)} is not a subject attribute ccm knows`, { field });
  if (mustBeInCsr && !CSR_SUBJECT_ATTRIBUTES.includes(value)) {
    throw new InvalidRequest(`${field}: ${value} is not an attribute a device CSR may carry (${CSR_SUBJECT_ATTRIBUTES.join(', ')})`, { field });
  }
  return value;
}

function validateEquals(equals: string, field: string): void {
  const characters = [...equals].length;
  if (characters === 0 || characters > IDENTITY_RULE_LIMITS.equalsLength) {
    throw new InvalidRequest(`${field} must be 1 to ${IDENTITY_RULE_LIMITS.equalsLength} characters`, { field });
  }
  const problem = subjectTextProblem(equals);
  if (problem !== null) throw new InvalidRequest(`${field} ${problem}`, { field });
  for (const [placeholder] of equals.matchAll(PLACEHOLDER)) {
    if (placeholder !== TENANT_ID_PLACEHOLDER) throw new InvalidRequest(`${field}: ${placeholder} is not a placeholder; the only one is ${TENANT_ID_PLACEHOLDER}`, { field });
  }
}

/**
 * The pattern anchored to the whole value. It must compile on its own first:
 * then its groups are balanced, and a pattern such as "a)|(b" cannot close
 * the anchoring group early and match a mere substring.
 */
function compilePattern(pattern: string, field: string): RegExp {
  if (pattern.length === 0 || pattern.length > IDENTITY_RULE_LIMITS.patternLength) {
    throw new InvalidRequest(`${field} must be 1 to ${IDENTITY_RULE_LIMITS.patternLength} characters`, { field });
  }
  try {
    new RegExp(pattern, 'u');
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch (error) {
    throw new InvalidRequest(`${field} is not a valid regular expression (unicode mode): ${error instanceof Error ? error.message : String(error)}`, { field });
  }
}

/**
 * Subject values a CSR (a device's or a delegated CA's) may carry:
 * UTF8String or PrintableString (RFC 5280 §4.1.2.4 asks new certificates for
 * UTF8String, and ccm re-encodes as such, so a BMPString or T61String subject
 * would be signed as a different name than the requester asked for), or
 * IA5String for the attributes ccm writes as IA5String (emailAddress, DC),
 * kept as it came; in subject text (subject-text.ts). The PrintableString
 * repertoire is ASCII: a byte above 0x7f there is not text.
 * Throws `policy-violation` with `attribute`.
 */
export function checkSubjectEncoding(subject: readonly DecodedNameEntry[]): void {
  for (const { attribute, value, stringType } of subject) {
    if (stringType !== 'utf8' && stringType !== 'printable' && !(stringType === 'ia5' && writtenStringType(attribute) === 'ia5')) {
      throw new DomainError('policy-violation', `the CSR subject ${attribute} is a ${stringType} string; only UTF8String and PrintableString (IA5String for emailAddress and DC) are accepted`, {
        attribute,
        stringType,
      });
    }
    if (stringType === 'printable' && /[^\x00-\x7f]/u.test(value)) {
      throw new DomainError('policy-violation', `the CSR subject ${attribute} is a PrintableString with characters outside ASCII`, { attribute });
    }
    const problem = subjectTextProblem(value);
    if (problem !== null) throw new DomainError('policy-violation', `the CSR subject ${attribute} ${problem}`, { attribute });
  }
}

/**
 * Checks a subject ccm is about to sign against the CA's rules: the identity
 * and device type attributes present exactly once (else the certificate could
 * never authenticate), and every requirement of the subject policy met by
 * exactly one value. Throws `policy-violation` with `attribute`.
 *
 * ReDoS: patterns come from tenants, and a backtracking engine takes
 * exponential time on some of them ("(a+)+b") even for 64-character values,
 * so bounding the input alone is not enough. Values are bounded
 * (IDENTITY_RULE_LIMITS.evaluatedValueLength) and the patterns of one subject
 * run under a wall-clock budget in a vm context, which V8 interrupts; a
 * pattern that exhausts it refuses the request (fail closed).
 */
export function checkSubjectPolicy(subject: DistinguishedName, rules: IdentityRules | null, tenantId: string): void {
  const effective = rules ?? DEFAULT_IDENTITY_RULES;
  for (const attribute of [effective.identityAttribute, effective.deviceTypeAttribute]) {
    if (attribute !== null) onlyValue(subject, attribute, attribute === effective.identityAttribute ? 'names the device' : 'names the device type');
  }
  const patterns: { attribute: NameAttribute; pattern: RegExp; value: string }[] = [];
  for (const requirement of effective.subjectPolicy) {
    const value = onlyValue(subject, requirement.attribute, 'is required by the subject policy');
    if (requirement.equals !== undefined) {
      const expected = requirement.equals.replaceAll(TENANT_ID_PLACEHOLDER, tenantId);
      if (value !== expected) throw new DomainError('policy-violation', `the subject ${requirement.attribute} must be "${expected}"`, { attribute: requirement.attribute, expected });
    }
    if (requirement.pattern !== undefined) {
      if ([...value].length > IDENTITY_RULE_LIMITS.evaluatedValueLength) {
        throw new DomainError('policy-violation', `the subject ${requirement.attribute} is longer than ${IDENTITY_RULE_LIMITS.evaluatedValueLength} characters`, { attribute: requirement.attribute });
      }
      patterns.push({ attribute: requirement.attribute, pattern: compilePattern(requirement.pattern, 'pattern'), value });
    }
  }
  const mismatch = firstMismatch(patterns);
  if (mismatch !== null) {
    throw new DomainError('policy-violation', `the subject ${mismatch.attribute} must match ${mismatch.pattern.source}`, { attribute: mismatch.attribute, pattern: mismatch.pattern.source });
  }
}

/** Every attribute the rules need in a subject: the identity, the device type and the subject policy's. */
export function attributesNamedBy(rules: IdentityRules | null): NameAttribute[] {
  const effective = rules ?? DEFAULT_IDENTITY_RULES;
  const named = [effective.identityAttribute, ...(effective.deviceTypeAttribute !== null ? [effective.deviceTypeAttribute] : []), ...effective.subjectPolicy.map((requirement) => requirement.attribute)];
  return [...new Set(named)];
}

function onlyValue(subject: DistinguishedName, attribute: NameAttribute, why: string): string {
  const values = subject.filter((entry) => entry.attribute === attribute).map((entry) => entry.value);
  if (values.length !== 1) {
    throw new DomainError('policy-violation', `the subject must carry exactly one ${attribute} (it ${why}); it has ${values.length}`, { attribute, count: values.length });
  }
  return values[0]!;
}

/**
 * Wall-clock budget for all patterns of one subject. Honest patterns on values
 * of at most 128 characters take microseconds; the budget is wide so that a
 * loaded machine does not refuse a compliant CSR, and narrow enough that a
 * pathological pattern costs each request little.
 */
const PATTERN_BUDGET_MS = 100;
const patternContext = vm.createContext(Object.create(null) as object);
const patternScript = new vm.Script('for (progress = 0; progress < checks.length; progress++) { if (!checks[progress].pattern.test(checks[progress].value)) break; } progress');
// Compiled once here, so that compiling the script never counts against a request's budget.
Object.assign(patternContext, { checks: [], progress: 0 });
patternScript.runInContext(patternContext);

function firstMismatch<T extends { attribute: NameAttribute; pattern: RegExp; value: string }>(checks: readonly T[]): T | null {
  if (checks.length === 0) return null;
  const state = patternContext as { checks: readonly T[]; progress: number };
  state.checks = checks;
  state.progress = 0;
  try {
    const stoppedAt = patternScript.runInContext(patternContext, { timeout: PATTERN_BUDGET_MS }) as number;
    return stoppedAt < checks.length ? checks[stoppedAt]! : null;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw error;
    // The budget may run out just after the last pattern matched.
    if (state.progress >= checks.length) return null;
    const culprit = checks[state.progress]!;
    throw new DomainError('policy-violation', `the subject policy's pattern for ${culprit.attribute} did not finish within ${PATTERN_BUDGET_MS} ms; the pattern needs fixing`, { attribute: culprit.attribute });
  } finally {
    state.checks = [];
  }
}

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
    throw new AuthenticationRefused('identity-unmapped', `the certificate subject must carry exactly one ${attribute} to name the device`, { attribute, count: values.length });
  }
  // A device name goes into broker ACLs, the device registry and logs; another CA may have signed any text, and not all of it is a name.
  const problem = subjectTextProblem(values[0]!);
  if (problem !== null) throw new AuthenticationRefused('identity-unmapped', `the certificate subject ${attribute} ${problem}`, { attribute });
  return values[0]!;
}
