/**
 * Device authentication: the broker's hot path, "who is this device, and
 * may it in?", against every CA a tenant's devices are issued by (its root,
 * its delegated intermediates, its external CAs), and what a first sight of
 * a certificate of the tenant's own CAs must meet. EST re-enrollment asks it
 * too (AuthenticateDevice.identify). Its ports are bound in persistence.
 */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { AuthenticateDevice } from './authenticate-device.js';

@Module({ imports: [AuthoritiesModule], providers: [AuthenticateDevice], exports: [AuthenticateDevice] })
export class DeviceAuthenticationModule {}
