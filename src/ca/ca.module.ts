/**
 * The CA role (certificate-authority.ts): the only provider that holds
 * custody for signing. Global, as custody is, since every use case that
 * issues hands its orders to it; AbandonedIssuanceStore is bound in
 * persistence.
 */
import { Global, Module } from '@nestjs/common';
import { AbandonedIssuances } from './abandoned-issuances.js';
import { CertificateAuthority } from './certificate-authority.js';
import { SerialNumbers } from './serial-numbers.js';

@Global()
@Module({ providers: [CertificateAuthority, SerialNumbers, AbandonedIssuances], exports: [CertificateAuthority] })
export class CaModule {}
