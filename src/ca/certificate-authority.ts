/**
 * The CA role: the one signer. Everything ccm signs (device and CA
 * certificates, CRLs, OCSP responses, the platform CA's CSR) is signed here,
 * and only here are serial numbers allocated and custody asked to sign
 * (test/unit/architecture.test.ts holds the rest of src to that). Use cases
 * decide what to issue and hand over a fully decided order; this class
 * records, lints and signs it, in that order, as Boulder's `ca` does:
 *
 * 1. a serial number is allocated and the use case's pending record is
 *    committed with it (no transaction stays open past this point);
 * 2. a subject key that custody is to hold (a tenant root, an OCSP
 *    responder, the platform CA) is created;
 * 3. the to-be-signed bytes are built by the codec and linted against the
 *    issuer's certificate (certificate-lint.ts); a finding signs nothing;
 * 4. custody signs, and the use case records the certificate.
 *
 * Any failure after step 1 marks the pending record failed, so a certificate
 * exists only when its record does, and a record that never got its
 * certificate says so. A process that dies between 1 and 4 leaves a pending
 * record, which AbandonedIssuances marks failed later.
 */
import { Injectable } from '@nestjs/common';
import { KeyCustody } from '../custody/key-custody.js';
import type { KeyAlgorithm } from '../codec/key-algorithm.js';
import { encodeCertificate, encodeCertificationRequest, type CertificateProfile, type SubjectAltNames } from '../codec/certificate-encoder.js';
import { inspectCertificate } from '../codec/certificate-inspection.js';
import { encodeCertificateList, type CertificateListRequest } from '../codec/certificate-list-encoder.js';
import { encodeDistinguishedName, type DistinguishedName } from '../codec/distinguished-name.js';
import { keyAlgorithmOf, readPublicKeyInfo } from '../codec/public-key.js';
import { serialNumberToHex } from '../codec/serial-number.js';
import type { Signer } from '../codec/signer.js';
import { CertificateLintFailed, lintCertificate, lintRevocationList, serialNumberFindings, type CertificateLintPolicy, type LintIssuer } from './certificate-lint.js';
import { SerialNumbers } from './serial-numbers.js';

/** A custody key: its name in custody and its algorithm, as the CA's record has them. */
export interface CustodyKeyRef {
  readonly custodyKeyName: string;
  readonly keyAlgorithm: KeyAlgorithm;
}

/** A CA that signs with a custody key: the key, and its certificate as issued. */
export interface Issuer extends CustodyKeyRef {
  /** The CA's certificate, DER: what a new certificate's issuer fields and validity are linted against. */
  readonly certificateDer: Uint8Array;
  /** Copied into the new certificate: the CA certificate's subject Name, byte for byte, and its key identifier. */
  readonly subjectName: Uint8Array;
  readonly subjectKeyIdentifier: Uint8Array;
}

/** What a certificate is for: the lint holds its bytes to it (a device's certificate is never a CA, whatever profile it was built with). */
export type CertificatePurpose = CertificateLintPolicy['purpose'];

/** A fully decided certificate: everything but the serial number, which the CA allocates. */
export interface CertificateOrder {
  readonly purpose: CertificatePurpose;
  /** The signing CA, or 'self' for a self-signed certificate (the platform CA), signed by the subject's own custody key. */
  readonly issuer: Issuer | 'self';
  readonly subject: DistinguishedName;
  /** The subject's key: given (a CSR's, a device key ccm generated), or created in custody under this name once the record is committed. */
  readonly subjectKey: { readonly publicKeyInfo: Uint8Array } | CustodyKeyRef;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly profile: CertificateProfile;
  readonly subjectAltNames?: SubjectAltNames;
  readonly crlDistributionPoints?: readonly string[];
  readonly ocspUrls?: readonly string[];
}

/**
 * How the use case records the certificate; the CA calls these in order and
 * never signs before `pending` has returned.
 */
export interface CertificateRecord<T> {
  /** Commits the pending record with its serial number (lowercase hex). */
  pending(serialNumberHex: string): Promise<void>;
  /** The certificate is signed: record it. A throw here discards it (it never leaves the service) and marks the record failed. */
  issued(certificateDer: Uint8Array): Promise<T>;
  /** Nothing usable was signed: marks the pending record failed. */
  failed(): Promise<void>;
}

export interface SignedCertificate<T> {
  readonly der: Uint8Array;
  readonly recorded: T;
}

/** A CRL's content; the issuer's name and key identifier come from the issuer itself. */
export type RevocationListOrder = Omit<CertificateListRequest, 'issuerName' | 'authorityKeyIdentifier'>;

interface IssuerCertificateFacts extends LintIssuer {
  /** The algorithm of the key the CA certificate certifies: custody's key must be of it. */
  readonly keyAlgorithm: KeyAlgorithm;
}

@Injectable()
export class CertificateAuthority {
  /** Parsed once per CA certificate (the issuing-certificate cache hands out the same bytes each time). */
  private readonly issuerFacts = new WeakMap<Uint8Array, IssuerCertificateFacts>();

  constructor(
    private readonly custody: KeyCustody,
    private readonly serialNumbers: SerialNumbers,
  ) {}

  async issue<T>(order: CertificateOrder, record: CertificateRecord<T>): Promise<SignedCertificate<T>> {
    const serialNumber = this.serialNumbers.next();
    await record.pending(serialNumberToHex(serialNumber));
    try {
      // The encoder refuses such a serial too, but as a bad request: it is the CA's own fault, and the lint's to name.
      const serialProblems = serialNumberFindings(serialNumber);
      if (serialProblems.length > 0) throw new CertificateLintFailed(serialProblems);
      const subjectPublicKeyInfo = 'publicKeyInfo' in order.subjectKey ? order.subjectKey.publicKeyInfo : (await this.custody.createKey(order.subjectKey.custodyKeyName, order.subjectKey.keyAlgorithm)).publicKeyDer;
      const signingKey = order.issuer === 'self' ? this.selfSigningKey(order) : order.issuer;
      const lintIssuer = order.issuer === 'self' ? null : this.factsOf(order.issuer);
      const der = await encodeCertificate(
        {
          serialNumber,
          issuerName: order.issuer === 'self' ? encodeDistinguishedName(order.subject) : order.issuer.subjectName,
          issuerKeyIdentifier: order.issuer === 'self' ? null : order.issuer.subjectKeyIdentifier,
          subject: order.subject,
          subjectPublicKeyInfo,
          notBefore: order.notBefore,
          notAfter: order.notAfter,
          profile: order.profile,
          ...(order.subjectAltNames ? { subjectAltNames: order.subjectAltNames } : {}),
          ...(order.crlDistributionPoints ? { crlDistributionPoints: order.crlDistributionPoints } : {}),
          ...(order.ocspUrls ? { ocspUrls: order.ocspUrls } : {}),
        },
        this.lintingSigner(signingKey, (tbs) => lintCertificate(tbs, { purpose: order.purpose, issuer: lintIssuer, signingAlgorithm: signingKey.keyAlgorithm })),
      );
      return { der, recorded: await record.issued(der) };
    } catch (error) {
      // The caller hears of the first failure; a record left pending because this one failed too is marked later (AbandonedIssuances).
      await record.failed().catch(() => undefined);
      throw error;
    }
  }

  /** Signs a CRL of `issuer`'s, linted first. CRLs have no record of their own: the revocation list store keeps what this returns. */
  async signRevocationList(issuer: Issuer, order: RevocationListOrder): Promise<Uint8Array> {
    const facts = this.factsOf(issuer);
    return encodeCertificateList(
      { ...order, issuerName: issuer.subjectName, authorityKeyIdentifier: issuer.subjectKeyIdentifier },
      this.lintingSigner(issuer, (tbs) => lintRevocationList(tbs, { issuer: facts, signingAlgorithm: issuer.keyAlgorithm })),
    );
  }

  /** The signer of a CA's (or its delegated responder's) OCSP responses, which the OCSP encoder builds. */
  ocspResponseSigner(key: CustodyKeyRef): Signer {
    return this.custodySigner(key);
  }

  /** A PKCS #10 request for a custody key, for an operator's offline root to certify (the platform CA in external mode). */
  async signCertificationRequest(key: CustodyKeyRef, subject: DistinguishedName): Promise<Uint8Array> {
    const { publicKeyDer } = await this.custody.getKey(key.custodyKeyName);
    return encodeCertificationRequest(subject, publicKeyDer, this.custodySigner(key));
  }

  /** Creates (or finds, after a crash) a custody key that no certificate names yet: the platform CA's, awaiting an operator's certificate. */
  async createKey(key: CustodyKeyRef): Promise<Uint8Array> {
    return (await this.custody.createKey(key.custodyKeyName, key.keyAlgorithm)).publicKeyDer;
  }

  /** The DER SubjectPublicKeyInfo of a custody key, to check that an imported certificate certifies it. */
  async publicKeyOf(key: CustodyKeyRef): Promise<Uint8Array> {
    return (await this.custody.getKey(key.custodyKeyName)).publicKeyDer;
  }

  private selfSigningKey(order: CertificateOrder): CustodyKeyRef {
    if ('publicKeyInfo' in order.subjectKey) throw new CertificateLintFailed(['a self-signed certificate must be signed by its subject\'s own custody key']);
    return order.subjectKey;
  }

  private factsOf(issuer: Issuer): IssuerCertificateFacts {
    let facts = this.issuerFacts.get(issuer.certificateDer);
    if (facts === undefined) {
      const inspected = inspectCertificate(issuer.certificateDer);
      facts = {
        subjectName: inspected.subjectName,
        subjectKeyIdentifier: inspected.subjectKeyIdentifier ?? new Uint8Array(0),
        notBefore: inspected.notBefore,
        notAfter: inspected.notAfter,
        keyAlgorithm: keyAlgorithmOf(readPublicKeyInfo(inspected.subjectPublicKeyInfo)),
      };
      this.issuerFacts.set(issuer.certificateDer, facts);
    }
    // RFC 5280 §4.1.1.2: what custody signs with must be the key the CA certificate certifies, or no verifier accepts the signature.
    if (facts.keyAlgorithm !== issuer.keyAlgorithm) {
      throw new CertificateLintFailed([`the issuer's custody key is ${issuer.keyAlgorithm} but its certificate certifies a ${facts.keyAlgorithm} key`]);
    }
    return facts;
  }

  private lintingSigner(key: CustodyKeyRef, lint: (toBeSigned: Uint8Array) => void): Signer {
    const signer = this.custodySigner(key);
    return {
      algorithm: signer.algorithm,
      sign: async (toBeSigned) => {
        lint(toBeSigned);
        return signer.sign(toBeSigned);
      },
    };
  }

  private custodySigner(key: CustodyKeyRef): Signer {
    // External and delegated CAs record '' here: their keys are the tenant's, and nothing may ask custody to sign for them.
    if (key.custodyKeyName === '') throw new Error('this CA has no custody key: its key is held by the tenant');
    return { algorithm: key.keyAlgorithm, sign: (data) => this.custody.sign(key.custodyKeyName, data) };
  }
}
