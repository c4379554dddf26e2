/**
 * An in-process tenant CA (under a root of its own) that signs CRLs, for the
 * package's CRL tests: the package's tests need nothing outside it.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' };

export interface CrlOptions {
  readonly entries?: ReadonlyArray<{ readonly serialNumber: string; readonly reason?: x509.X509CrlReason }>;
  readonly thisUpdate?: Date;
  /** null: none at all. */
  readonly nextUpdate?: Date | null;
  readonly crlNumber?: number;
}

export class ThrowawayCa {
  private crlNumber = 0;

  private constructor(
    readonly certificate: x509.X509Certificate,
    private readonly keys: webcrypto.CryptoKeyPair,
  ) {}

  static async create(name = 'throwaway tenant CA'): Promise<ThrowawayCa> {
    const rootKeys = await generateP256();
    const root = await x509.X509CertificateGenerator.createSelfSigned(
      { serialNumber: randomSerial(), name: `CN=${name} root`, keys: rootKeys, notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 2 * 86400_000), signingAlgorithm: ECDSA_SHA256, extensions: [new x509.BasicConstraintsExtension(true, 2, true)] },
      webcrypto as never,
    );
    const keys = await generateP256();
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=${name}`,
        issuer: root.subject,
        publicKey: keys.publicKey,
        signingKey: rootKeys.privateKey,
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() + 2 * 86400_000),
        signingAlgorithm: ECDSA_SHA256,
        extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
      },
      webcrypto as never,
    );
    return new ThrowawayCa(certificate, keys);
  }

  get pem(): string {
    return this.certificate.toString('pem');
  }

  /** A CRL of this CA, PEM ("X509 CRL", the label OpenSSL reads). */
  async crl(options: CrlOptions = {}): Promise<string> {
    const thisUpdate = options.thisUpdate ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
    const number = options.crlNumber ?? ++this.crlNumber;
    const crl = await x509.X509CrlGenerator.create(
      {
        issuer: this.certificate.subject,
        thisUpdate,
        ...(options.nextUpdate === null ? {} : { nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 86400_000) }),
        signingAlgorithm: ECDSA_SHA256,
        signingKey: this.keys.privateKey,
        extensions: [new x509.Extension('2.5.29.20', false, derInteger(number))],
        entries: (options.entries ?? []).map((entry) => ({ serialNumber: entry.serialNumber, revocationDate: thisUpdate, ...(entry.reason !== undefined ? { reason: entry.reason } : {}) })),
      },
      webcrypto as never,
    );
    const der = Buffer.from(crl.rawData);
    return `-----BEGIN X509 CRL-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END X509 CRL-----\n`;
  }
}

async function generateP256(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return bytes.toString('hex');
}

function derInteger(value: number): ArrayBuffer {
  const hex = value.toString(16);
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}
