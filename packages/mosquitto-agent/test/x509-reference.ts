/**
 * @peculiar/x509 as the tests' reference parser: what the agent's own DER
 * check reads is held against it. Tests only; the agent does not depend on it.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
export { X509Crl } from '@peculiar/x509';
