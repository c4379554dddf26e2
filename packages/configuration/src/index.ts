export { EnvironmentReader, type Environment } from './environment-reader.js';
