/** Client certificate use cases. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificateQueries } from './certificate-queries.js';
import { IssueClientCertificate } from './issue-client-certificate.js';

@Module({ imports: [AuthoritiesModule], providers: [IssueClientCertificate, CertificateQueries], exports: [IssueClientCertificate, CertificateQueries] })
export class CertificatesModule {}
