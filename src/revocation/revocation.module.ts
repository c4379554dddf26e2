/** Revocation artefacts for clients that do not take events: CRLs of tenant CAs. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { RevocationLists } from './revocation-lists.js';

@Module({ imports: [AuthoritiesModule], providers: [RevocationLists], exports: [RevocationLists] })
export class RevocationModule {}
