/** The published event contract (openapi/events/ccm-event.v1.schema.json), compiled once with ajv for the tests. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import assert from 'node:assert/strict';

const schema = JSON.parse(readFileSync(new URL('../../../openapi/events/ccm-event.v1.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
(addFormatsModule as unknown as (ajv: Ajv2020) => void)(ajv);
const validate = ajv.compile(schema);

export function assertValidEvent(event: unknown): void {
  assert.ok(validate(event), `event does not match the v1 schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(event)}`);
}
