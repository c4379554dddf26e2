/** HTTP edge of device authentication: the call a broker makes for each connecting device. */
import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthenticateDevice } from '../device-authentication/authenticate-device.js';
import { InvalidRequest } from '../shared/errors.js';
import { Access } from './access.guard.js';
import { AuthenticationRequest, AuthenticationResponse, authenticationResponse } from './dtos.js';
import { Audited } from './audit.interceptor.js';
import { RateLimit } from './rate-limit.guard.js';

@ApiTags('authentication')
@Controller('v1/authentications')
@Access('admin', 'broker')
export class AuthenticationsController {
  constructor(private readonly authenticate: AuthenticateDevice) {}

  @Post()
  @RateLimit('authentication')
  // Accepted: the certificate and its tenant from the answer; refused: from the error, when ccm found the certificate (AuthenticationRefused.refusedCertificate).
  @Audited('device.authenticate', {
    target: 'certificate',
    fromResponse: (accepted: AuthenticationResponse) => ({ targetId: accepted.certificateId, tenantId: accepted.tenantId, details: { serialNumber: accepted.serialNumber, deviceId: accepted.deviceId, state: accepted.state } }),
  })
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Who is this device, and may it connect? Give certificatePem, or issuer and serialNumber. Certificates of the tenant root CA, of delegated intermediates and of external CAs are accepted; under the latter two the first sight registers or finds the device and binds the certificate to it (issuer and serialNumber alone then only work once bound). 200 when accepted (a first use activates the certificate); 403 problem+json otherwise, typed certificate-unknown, -suspended, -revoked, -expired, -not-yet-valid, -signature-invalid, -signature-unsupported (SHA-1 and other algorithms ccm does not verify), untrusted-issuer, issuer-ambiguous, identity-unmapped, device-not-registered or device-bound-elsewhere; a first sight under an external or delegated CA also refuses a key below the key policy (certificate-weak-key) and a zero, negative or over-long serial (certificate-serial-invalid), recording nothing.',
  })
  @ApiOkResponse({ type: AuthenticationResponse })
  async create(@Body() body: AuthenticationRequest): Promise<AuthenticationResponse> {
    const byCertificate = body.certificatePem !== undefined;
    const byIssuer = body.issuer !== undefined || body.serialNumber !== undefined || body.authorityKeyIdentifier !== undefined;
    if (byCertificate === byIssuer) throw new InvalidRequest('give either certificatePem, or issuer and serialNumber');
    if (byCertificate) return authenticationResponse(await this.authenticate.execute({ certificatePem: body.certificatePem! }));
    if (body.issuer === undefined || body.serialNumber === undefined) throw new InvalidRequest('issuer and serialNumber go together', { field: body.issuer === undefined ? 'issuer' : 'serialNumber' });
    const authorityKeyIdentifier = body.authorityKeyIdentifier === undefined ? {} : { authorityKeyIdentifier: body.authorityKeyIdentifier };
    return authenticationResponse(await this.authenticate.execute({ issuer: body.issuer, serialNumber: body.serialNumber, ...authorityKeyIdentifier }));
  }
}
