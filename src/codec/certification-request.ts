/**
 * Parsing PKCS #10 certification requests (RFC 2986) that devices and
 * tenants send: strict framing, proof of possession (the self-signature),
 * and the subject key mapped to a ccm key algorithm. What the request asks for
 * in its extensionRequest attribute is reported so policy can refuse or log
 * it, and never copied into a certificate: the profile decides extensions.
 */
import type { KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions } from '@peculiar/asn1-x509';
import type { KeyAlgorithm } from './key-algorithm.js';
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, assertDerFraming, bitStringOctets, contextTag, decodeObjectIdentifier, expectTag, readChildren, readSingleElement, type DerElement } from './der.js';
import { decodeNameEntries, type DecodedNameEntry, type DistinguishedName } from './distinguished-name.js';
import { decodeSinglePem, looksLikePem } from './pem.js';
import { importPublicKey, keyAlgorithmOf, readPublicKeyInfoElement, type PublicKeyInfo } from './public-key.js';
import { readSignatureAlgorithm, verifySignature } from './signature-verification.js';

/** Real requests are under 4 KiB (an RSA-4096 one is about 1.7 KiB of PEM); the cap bounds parsing work on hostile input. */
export const MAXIMUM_CERTIFICATION_REQUEST_SIZE = 64 * 1024;

/** RFC 7468 §7 names "CERTIFICATE REQUEST"; "NEW CERTIFICATE REQUEST" is what older Microsoft and Java tools write. */
export const CERTIFICATION_REQUEST_PEM_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'] as const;

/** PKCS #9 extensionRequest (RFC 2985 §5.4.2). */
const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';

export interface ParsedCertificationRequest {
  readonly subject: DistinguishedName;
  /** The same entries with the string type each value came in, for policies that accept only some. */
  readonly decodedSubject: readonly DecodedNameEntry[];
  /** DER SubjectPublicKeyInfo exactly as the request carries it. */
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly keyAlgorithm: KeyAlgorithm;
  /** extnIDs found in extensionRequest attributes, in order; reported, never copied into a certificate. */
  readonly requestedExtensionOids: string[];
}

/**
 * Parses and verifies a request given as PEM text (or PEM bytes) or DER.
 * Throws `malformed-pem` for bad PEM, `malformed-csr` for anything that is not
 * a well-formed PKCS #10 request, `unsupported-algorithm` for keys and
 * signature algorithms ccm does not take, `bad-csr-signature` when the
 * self-signature does not verify.
 */
export function parseCertificationRequest(input: string | Uint8Array): ParsedCertificationRequest {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > MAXIMUM_CERTIFICATION_REQUEST_SIZE) throw malformed(`the request is ${size} bytes; at most ${MAXIMUM_CERTIFICATION_REQUEST_SIZE} are accepted`);
  if (size === 0) throw malformed('the request is empty');
  const der =
    typeof input === 'string' || looksLikePem(input)
      ? decodeSinglePem(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'), CERTIFICATION_REQUEST_PEM_LABELS)
      : input;

  let structure: RequestStructure;
  try {
    structure = readStructure(der);
  } catch (error) {
    if (error instanceof DerFramingError) throw malformed(error.message);
    throw error;
  }

  let keyAlgorithm: KeyAlgorithm;
  let keyObject: KeyObject;
  try {
    keyAlgorithm = keyAlgorithmOf(structure.publicKey);
    // node:crypto checks what the framing cannot: that an EC point is on its curve, that the RSA key parses.
    keyObject = importPublicKey(structure.publicKey);
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw malformed(`the public key is invalid: ${error instanceof Error ? error.message : String(error)}`);
  }

  // Verified with the key object just made: importing a key costs more than verifying with it.
  if (!verifySignature(structure.signatureAlgorithm, { info: structure.publicKey, keyObject }, structure.requestInfo, structure.signature)) {
    throw new DomainError('bad-csr-signature', 'the certification request signature does not verify with its public key');
  }

  let decodedSubject: DecodedNameEntry[];
  try {
    decodedSubject = decodeNameEntries(structure.subject);
  } catch (error) {
    if (error instanceof DomainError) throw malformed(`subject: ${error.message}`);
    throw error;
  }

  return {
    subject: decodedSubject.map(({ attribute, value }) => ({ attribute, value })),
    decodedSubject,
    subjectPublicKeyInfo: Uint8Array.from(structure.publicKey.der),
    keyAlgorithm,
    requestedExtensionOids: structure.requestedExtensionOids,
  };
}

interface RequestStructure {
  readonly requestInfo: Uint8Array;
  readonly subject: Uint8Array;
  readonly publicKey: PublicKeyInfo;
  readonly signatureAlgorithm: ReturnType<typeof readSignatureAlgorithm>;
  readonly signature: Uint8Array;
  readonly requestedExtensionOids: string[];
}

/**
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name, subjectPKInfo, attributes [0] Attributes }
 */
function readStructure(der: Uint8Array): RequestStructure {
  const outer = expectTag(readSingleElement(der), DerTag.sequence, 'CertificationRequest');
  assertDerFraming(outer);
  const [info, signatureAlgorithm, signature, ...rest] = readChildren(outer);
  if (rest.length > 0) throw new DerFramingError('CertificationRequest has extra fields');
  const [version, subject, publicKey, attributes, ...more] = readChildren(expectTag(info, DerTag.sequence, 'CertificationRequestInfo'));
  if (more.length > 0) throw new DerFramingError('CertificationRequestInfo has extra fields');
  const versionContent = expectTag(version, DerTag.integer, 'version').content;
  if (versionContent.length !== 1 || versionContent[0] !== 0) throw new DerFramingError('version is not v1 (0)');
  return {
    requestInfo: info!.bytes,
    subject: expectTag(subject, DerTag.sequence, 'subject').bytes,
    publicKey: readPublicKeyInfoElement(expectTag(publicKey, DerTag.sequence, 'subjectPKInfo')),
    signatureAlgorithm: readSignatureAlgorithm(signatureAlgorithm),
    signature: bitStringOctets(expectTag(signature, DerTag.bitString, 'signature'), 'signature'),
    // Some producers leave out the empty [0] although RFC 2986 requires it; nothing is lost by tolerating that.
    requestedExtensionOids: attributes === undefined ? [] : requestedExtensions(expectTag(attributes, contextTag(0, true), 'attributes')),
  };
}

/** Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET OF AttributeValue } */
function requestedExtensions(attributes: DerElement): string[] {
  const oids: string[] = [];
  for (const attribute of readChildren(attributes)) {
    const [type, values, ...rest] = readChildren(expectTag(attribute, DerTag.sequence, 'Attribute'));
    if (rest.length > 0) throw new DerFramingError('Attribute has extra fields');
    const oid = decodeObjectIdentifier(expectTag(type, DerTag.objectIdentifier, 'attribute type'));
    const valueSet = readChildren(expectTag(values, DerTag.set, 'attribute values'));
    if (oid !== EXTENSION_REQUEST_OID) continue;
    for (const value of valueSet) {
      let extensions: Extensions;
      try {
        extensions = AsnConvert.parse(value.bytes, Extensions);
      } catch {
        throw new DerFramingError('extensionRequest is not a list of extensions');
      }
      for (const extension of extensions) oids.push(extension.extnID);
    }
  }
  return oids;
}

function malformed(message: string): DomainError {
  return new DomainError('malformed-csr', `malformed certification request: ${message}`);
}
