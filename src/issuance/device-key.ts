/**
 * Key pairs generated for devices that do not bring a CSR. The private key is
 * returned to the caller once and never kept (DESIGN.md, "The trust chain");
 * this module holds no state.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { DeviceKeyAlgorithm } from '../custody/key-algorithm.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface DeviceKeyPair {
  /** PKCS#8 PEM ("PRIVATE KEY"), the form OpenSSL, Mosquitto and most TLS stacks read. */
  readonly privateKeyPem: string;
  /** DER SubjectPublicKeyInfo, to put into the certificate. */
  readonly subjectPublicKeyInfo: Uint8Array;
}

/** Generates off the event loop (libuv thread pool), since RSA generation takes tens to hundreds of milliseconds. */
export async function generateDeviceKey(algorithm: DeviceKeyAlgorithm): Promise<DeviceKeyPair> {
  const { publicKey, privateKey } = await generate(algorithm);
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKeyPem: String(privateKeyPem), subjectPublicKeyInfo: new Uint8Array(spki.buffer, spki.byteOffset, spki.length) };
}

function generate(algorithm: DeviceKeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  switch (algorithm) {
    case 'ecdsa-p256':
      // Named-curve SPKI (RFC 5480 §2.1.1); explicit parameters would be rejected by many verifiers.
      return generateKeyPairAsync('ec', { namedCurve: 'P-256', paramEncoding: 'named' });
    case 'ecdsa-p384':
      return generateKeyPairAsync('ec', { namedCurve: 'P-384', paramEncoding: 'named' });
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
    case 'rsa-2048':
      return generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  }
}
