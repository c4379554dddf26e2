/** Certificate life cycle use cases: state changes, CA revocation, device authentication. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { AuthenticateDevice } from './authenticate-device.js';
import { ChangeCertificateState } from './change-certificate-state.js';
import { RevokeTenantAuthority } from './revoke-tenant-authority.js';

@Module({ imports: [AuthoritiesModule], providers: [ChangeCertificateState, RevokeTenantAuthority, AuthenticateDevice], exports: [ChangeCertificateState, RevokeTenantAuthority, AuthenticateDevice] })
export class LifeCycleModule {}
