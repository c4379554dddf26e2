/** Reading client certificate metadata, always within one tenant. */
import { Injectable } from '@nestjs/common';
import { NotFound } from '../shared/errors.js';
import type { Page } from '../shared/page.js';
import { CertificateRepository, type CertificateFilter, type ClientCertificate } from './client-certificate.js';

/** Serials are compared in canonical form: lowercase, no 0x, no leading zero bytes. */
export function canonicalSerialNumber(text: string): string {
  let hex = text.toLowerCase().replace(/^0x/, '').replace(/^0+/, '');
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return hex === '' ? '00' : hex;
}

@Injectable()
export class CertificateQueries {
  constructor(private readonly certificates: CertificateRepository) {}

  async byId(tenantId: string, id: string): Promise<ClientCertificate> {
    return found(await this.certificates.findById(tenantId, id));
  }

  async bySerial(tenantId: string, serialNumber: string): Promise<ClientCertificate> {
    return found(await this.certificates.findBySerial(tenantId, canonicalSerialNumber(serialNumber)));
  }

  async byFingerprint(tenantId: string, sha256: string): Promise<ClientCertificate> {
    return found(await this.certificates.findByFingerprint(tenantId, sha256.toLowerCase().replace(/:/g, '')));
  }

  list(tenantId: string, filter: CertificateFilter, after: string | null, limit: number): Promise<Page<ClientCertificate>> {
    const canonical = filter.serialNumber === undefined ? filter : { ...filter, serialNumber: canonicalSerialNumber(filter.serialNumber) };
    return this.certificates.list(tenantId, canonical, after, limit);
  }
}

function found(certificate: ClientCertificate | null): ClientCertificate {
  if (!certificate) throw new NotFound('certificate');
  return certificate;
}
