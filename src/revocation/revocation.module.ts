/** Revocation artefacts for clients that do not take events: CRLs and OCSP for tenant CAs. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { RevocationListRefresher } from '../lifecycle/revocation-list-refresher.js';
import { OcspResponder } from './ocsp-responder.js';
import { OcspSigningIdentities } from './ocsp-signing.js';
import { RevocationLists } from './revocation-lists.js';

@Module({ imports: [AuthoritiesModule], providers: [RevocationLists, OcspResponder, OcspSigningIdentities, { provide: RevocationListRefresher, useExisting: RevocationLists }], exports: [RevocationLists, OcspResponder, RevocationListRefresher] })
export class RevocationModule {}
