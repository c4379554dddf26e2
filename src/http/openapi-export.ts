/**
 * Writes the OpenAPI document the code produces (`npm run openapi`). A test
 * compares it with the committed openapi/openapi.json so the two never drift.
 */
import { writeFileSync } from 'node:fs';
import { createApplication, openApiDocument } from '../app.js';
import { parseConfiguration } from '../config/configuration.js';

export async function renderOpenApi(): Promise<string> {
  const app = await createApplication(parseConfiguration({}), { logger: false, preview: true });
  try {
    return `${JSON.stringify(openApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const target = process.argv[2] ?? 'openapi/openapi.json';
  writeFileSync(target, await renderOpenApi());
  process.stdout.write(`wrote ${target}\n`);
}
