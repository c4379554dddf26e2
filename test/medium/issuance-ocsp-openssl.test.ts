/**
 * OCSP responses built by src/codec/ocsp.ts, judged by the openssl command
 * line as an OCSP client: `openssl ocsp -url` sends its request (with a
 * nonce) to a small in-test HTTP responder that answers with
 * parseOcspRequest + encodeOcspResponse, then verifies the signature against
 * the CA, checks the nonce it sent came back and prints each certificate's
 * status. The live exchange is what lets openssl check the nonce: given
 * `-respin` and `-cert`, it would build a request of its own, with a fresh
 * nonce, and refuse the saved response for not echoing that one.
 * For ECDSA P-256, RSA-2048 and Ed25519 CAs, signing themselves or through a
 * delegated responder certificate; also the unsigned error responses.
 */
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { encodeCertificationRequest } from '../../src/codec/certificate-encoder.js';
import { inspectCertificate } from '../../src/codec/certificate-inspection.js';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import {
  OcspMalformedRequest,
  encodeOcspErrorResponse,
  encodeOcspResponse,
  issuerHashes,
  parseOcspRequest,
  type OcspCertificateStatus,
  type OcspErrorStatus,
  type OcspRequest,
} from '../../src/codec/ocsp.js';
import { decodeSinglePem, encodePem } from '../../src/codec/pem.js';
import type { Signer } from '../../src/codec/signer.js';
import { openssl, run, Scratch, type CommandResult } from '../support/openssl.js';
import { issueTestCertificate, newTestKey, type TestKey } from '../support/test-keys.js';

interface Issued {
  readonly der: Uint8Array;
  readonly key: TestKey;
  readonly serialNumber: string;
  readonly path: string;
}

const MINUTE = 60_000;

/** What the in-test responder answers with: who signs, which certs go along, each serial's status (anything else is unknown). */
interface Responder {
  readonly ca: Issued;
  readonly signer: Signer;
  readonly signerSubjectPublicKeyInfo: Uint8Array;
  readonly certificates?: readonly Uint8Array[];
  readonly statuses: ReadonlyMap<string, OcspCertificateStatus>;
}

function output(result: CommandResult): string {
  return `${result.stdout}${result.stderr}`;
}

/** The environment without proxy settings, so openssl talks to 127.0.0.1 directly. */
function directEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/_proxy$/i.test(name)));
}

describe('OCSP responses checked by openssl', () => {
  let scratch: Scratch;
  let server: Server;
  let url: string;
  let responder: Responder | null = null;
  /** The requests and responses of the last exchange, for the -respin checks. */
  let exchanges: Array<{ request: Uint8Array; parsed: OcspRequest; response: Uint8Array }> = [];

  /** Answers like a responder for one CA: CertIDs whose issuer hashes are not that CA's are unknown. */
  async function answer(body: Uint8Array): Promise<Uint8Array> {
    let parsed: OcspRequest;
    try {
      parsed = parseOcspRequest(body);
    } catch (error) {
      if (error instanceof OcspMalformedRequest) return encodeOcspErrorResponse('malformedRequest');
      throw error;
    }
    if (responder === null) return encodeOcspErrorResponse('unauthorized');
    const { ca } = responder;
    const caInfo = inspectCertificate(ca.der);
    const now = Date.now();
    const response = await encodeOcspResponse(
      {
        responderSubjectPublicKeyInfo: responder.signerSubjectPublicKeyInfo,
        producedAt: new Date(now),
        responses: parsed.certIds.map((certId) => {
          const hashes = issuerHashes(certId.hashAlgorithm, caInfo.subjectName, caInfo.subjectPublicKeyInfo);
          const ours = Buffer.from(hashes.nameHash).equals(certId.issuerNameHash) && Buffer.from(hashes.keyHash).equals(certId.issuerKeyHash);
          const status = (ours ? responder!.statuses.get(certId.serialNumber) : undefined) ?? { kind: 'unknown' as const };
          return { certId, status, thisUpdate: new Date(now - MINUTE), nextUpdate: new Date(now + 60 * MINUTE) };
        }),
        nonce: parsed.nonce,
        certificates: responder.certificates,
      },
      responder.signer,
    );
    exchanges.push({ request: body, parsed, response });
    return response;
  }

  before(async () => {
    scratch = await Scratch.create();
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        answer(new Uint8Array(Buffer.concat(chunks)))
          .catch(() => encodeOcspErrorResponse('internalError'))
          .then((der) => {
            response.writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': der.length });
            response.end(der);
          });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    url = `http://127.0.0.1:${address.port}/`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await scratch.cleanup();
  });

  async function issue(name: string, subject: DistinguishedName, key: TestKey, issuer: Issued | null): Promise<Issued> {
    const der = await issueTestCertificate(subject, key, issuer === null ? { kind: 'ca', pathLenConstraint: 0 } : { kind: 'client' }, issuer, { lifetimeHours: 24, ocspUrls: issuer === null ? undefined : [url] });
    return { der, key, serialNumber: inspectCertificate(der).serialNumberHex, path: await scratch.write(`${name}.pem`, encodePem(der, 'CERTIFICATE')) };
  }

  /** `openssl ocsp` as a client of the in-test responder, for `leaves`, trusting the CA alone. */
  function query(ca: Issued, leaves: readonly Issued[], options: readonly string[] = []): Promise<CommandResult> {
    exchanges = [];
    return run(
      'openssl',
      ['ocsp', ...options, '-issuer', ca.path, ...leaves.flatMap((leaf) => ['-cert', leaf.path]), '-url', url, '-CAfile', ca.path, '-resp_text', '-timeout', '20'],
      { env: directEnvironment() },
    );
  }

  function assertVerifiedWithNonce(result: CommandResult): void {
    assert.equal(result.code, 0, output(result));
    assert.match(result.stderr, /Response verify OK/);
    assert.doesNotMatch(output(result), /WARNING: no nonce in response/);
    assert.doesNotMatch(output(result), /Nonce Verify error/);
    assert.match(result.stdout, /Response Extensions:\s*\n\s*OCSP Nonce:/);
  }

  /**
   * A certificate for `key` issued by `ca` through openssl (ccm's encoder has
   * no OCSP-signing profile): the CSR from ccm, the extensions from `extensions`.
   */
  async function opensslIssued(ca: Issued, name: string, key: TestKey, extensions: string): Promise<Uint8Array> {
    const csr = await scratch.write(`${name}.csr`, encodePem(await encodeCertificationRequest([{ attribute: 'CN', value: name }], key.spki, key.signer), 'CERTIFICATE REQUEST'));
    const caKey = await scratch.write(`${name}-ca.key`, ca.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const ext = await scratch.write(`${name}.ext`, extensions);
    const result = await openssl(['x509', '-req', '-in', csr, '-CA', ca.path, '-CAkey', caKey, '-set_serial', `0x${Date.now().toString(16)}`, '-days', '1', '-extfile', ext]);
    assert.equal(result.code, 0, output(result));
    return decodeSinglePem(result.stdout, 'CERTIFICATE');
  }

  const ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'rsa-2048', 'ed25519'];

  for (const algorithm of ALGORITHMS) {
    describe(`a ${algorithm} CA`, () => {
      let ca: Issued;
      let good: Issued;
      let compromised: Issued;
      let held: Issued;
      let stranger: Issued;
      let statuses: Map<string, OcspCertificateStatus>;

      before(async () => {
        ca = await issue(`${algorithm}-ca`, [{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: `Tenant A Root ${algorithm}` }], await newTestKey(algorithm), null);
        const leafKey = await newTestKey('ecdsa-p256');
        good = await issue(`${algorithm}-good`, [{ attribute: 'CN', value: 'device-good' }], leafKey, ca);
        compromised = await issue(`${algorithm}-compromised`, [{ attribute: 'CN', value: 'device-compromised' }], leafKey, ca);
        held = await issue(`${algorithm}-held`, [{ attribute: 'CN', value: 'device-held' }], leafKey, ca);
        // Issued by the CA, but the responder has no record of it.
        stranger = await issue(`${algorithm}-stranger`, [{ attribute: 'CN', value: 'device-stranger' }], leafKey, ca);
        const revokedAt = new Date(Date.now() - 30 * MINUTE);
        statuses = new Map<string, OcspCertificateStatus>([
          [good.serialNumber, { kind: 'good' }],
          [compromised.serialNumber, { kind: 'revoked', revokedAt, reason: 'keyCompromise' }],
          [held.serialNumber, { kind: 'revoked', revokedAt, reason: 'certificateHold' }],
        ]);
      });

      it('openssl verifies the CA-signed answers (good, revoked with reason, unknown) and finds its nonce echoed', async () => {
        responder = { ca, signer: ca.key.signer, signerSubjectPublicKeyInfo: ca.key.spki, statuses };
        const result = await query(ca, [good, compromised, held, stranger]);
        assertVerifiedWithNonce(result);
        assert.equal(exchanges.length, 1);
        assert.equal(exchanges[0]!.parsed.certIds.length, 4, 'one request with four CertIDs');
        assert.match(result.stdout, new RegExp(`${algorithm}-good\\.pem: good\\n`));
        assert.match(result.stdout, new RegExp(`${algorithm}-compromised\\.pem: revoked\\n(\\t.*\\n)*?\\tReason: keyCompromise\\n`));
        assert.match(result.stdout, new RegExp(`${algorithm}-held\\.pem: revoked\\n(\\t.*\\n)*?\\tReason: certificateHold\\n`));
        assert.match(result.stdout, new RegExp(`${algorithm}-stranger\\.pem: unknown\\n`));

        // The saved exchange, read back with -respin against the request it answers: same verdict, nonce included.
        const requestPath = scratch.path(`${algorithm}-req.der`);
        const responsePath = scratch.path(`${algorithm}-resp.der`);
        await writeFile(requestPath, exchanges[0]!.request);
        await writeFile(responsePath, exchanges[0]!.response);
        const saved = await openssl(['ocsp', '-respin', responsePath, '-reqin', requestPath, '-issuer', ca.path, '-CAfile', ca.path, '-resp_text']);
        assertVerifiedWithNonce(saved);
        assert.match(saved.stdout, /Cert Status: revoked\s*\n\s*Revocation Time: .*\n\s*Revocation Reason: keyCompromise \(0x1\)/);
        assert.match(saved.stdout, /Cert Status: unknown/);
      });

      it('openssl verifies answers to SHA-256 CertIDs and to requests without a nonce', async () => {
        responder = { ca, signer: ca.key.signer, signerSubjectPublicKeyInfo: ca.key.spki, statuses };
        const sha256 = await query(ca, [compromised], ['-sha256']);
        assertVerifiedWithNonce(sha256);
        assert.equal(exchanges[0]!.parsed.certIds[0]!.hashAlgorithm, 'sha256');
        assert.match(sha256.stdout, new RegExp(`${algorithm}-compromised\\.pem: revoked\\n`));

        const withoutNonce = await query(ca, [good], ['-no_nonce']);
        assert.equal(withoutNonce.code, 0, output(withoutNonce));
        assert.match(withoutNonce.stderr, /Response verify OK/);
        assert.equal(exchanges[0]!.parsed.nonce, null);
        assert.doesNotMatch(withoutNonce.stdout, /OCSP Nonce/);
        assert.match(withoutNonce.stdout, new RegExp(`${algorithm}-good\\.pem: good\\n`));
      });

      it('openssl verifies answers signed by a delegated responder (id-kp-OCSPSigning, issued by the CA, sent in certs)', async () => {
        const responderKey = await newTestKey(algorithm);
        const responderCertificate = await opensslIssued(ca, `${algorithm}-responder`, responderKey, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n');
        responder = { ca, signer: responderKey.signer, signerSubjectPublicKeyInfo: responderKey.spki, certificates: [responderCertificate], statuses };
        const result = await query(ca, [good, held]);
        assertVerifiedWithNonce(result);
        assert.match(result.stdout, new RegExp(`${algorithm}-good\\.pem: good\\n`));
        assert.match(result.stdout, new RegExp(`${algorithm}-held\\.pem: revoked\\n(\\t.*\\n)*?\\tReason: certificateHold\\n`));
        assert.match(result.stdout, /Certificate:\s*\n\s*Data:/, 'the responder certificate is printed from certs');
      });

      it('openssl refuses answers from a responder the CA did not authorise for OCSP signing', async () => {
        // The same set-up with a clientAuth certificate: the signature is good, the authorisation is not.
        const responderKey = await newTestKey(algorithm);
        const certificate = await opensslIssued(ca, `${algorithm}-not-a-responder`, responderKey, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
        responder = { ca, signer: responderKey.signer, signerSubjectPublicKeyInfo: responderKey.spki, certificates: [certificate], statuses };
        const result = await query(ca, [good]);
        assert.notEqual(result.code, 0, output(result));
        assert.match(output(result), /Response Verify Failure/);
        assert.doesNotMatch(output(result), /Response verify OK/);
        assert.match(output(result), /missing ocspsigning usage/);
      });
    });
  }

  it('openssl refuses a response signed by a key other than the one its responderID names', async () => {
    const ca = await issue('mismatch-ca', [{ attribute: 'CN', value: 'Mismatch Root' }], await newTestKey('ecdsa-p256'), null);
    const leaf = await issue('mismatch-leaf', [{ attribute: 'CN', value: 'device' }], await newTestKey('ecdsa-p256'), ca);
    const impostor = await newTestKey('ecdsa-p256');
    responder = { ca, signer: impostor.signer, signerSubjectPublicKeyInfo: ca.key.spki, statuses: new Map([[leaf.serialNumber, { kind: 'good' }]]) };
    const result = await query(ca, [leaf]);
    assert.notEqual(result.code, 0, output(result));
    assert.match(output(result), /Response Verify Failure/);
    assert.match(output(result), /signature failure/);
  });

  it('openssl reads the error responses', async () => {
    const expected: Record<OcspErrorStatus, string> = {
      malformedRequest: 'malformedrequest (1)',
      internalError: 'internalerror (2)',
      tryLater: 'trylater (3)',
      unauthorized: 'unauthorized (6)',
    };
    for (const [status, text] of Object.entries(expected) as Array<[OcspErrorStatus, string]>) {
      const path = scratch.path(`error-${status}.der`);
      await writeFile(path, encodeOcspErrorResponse(status));
      const result = await openssl(['ocsp', '-respin', path, '-resp_text']);
      assert.match(output(result), new RegExp(`Responder Error: ${text.replace(/[()]/g, '\\$&')}`), `${status}: ${output(result)}`);
    }
    // And as an answer to a request ccm cannot read: the responder above answers malformedRequest.
    const served = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: 'not an OCSP request' });
    assert.equal(Buffer.from(await served.arrayBuffer()).toString('hex'), '30030a0101');
  });
});
