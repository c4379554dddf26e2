/**
 * Where the CA gets its serial numbers: 128 random bits each (codec's
 * newSerialNumber). A class of its own so that a test can hand the CA a
 * broken source and see the lint refuse what it would sign.
 */
import { Injectable } from '@nestjs/common';
import { newSerialNumber } from '../codec/serial-number.js';

@Injectable()
export class SerialNumbers {
  /** DER INTEGER content of a fresh serial number. */
  next(): Uint8Array {
    return newSerialNumber();
  }
}
