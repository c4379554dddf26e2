/**
 * The consumer library for broker integrations: ccm's events from a
 * subscriber's BullMQ queue (CcmEventConsumer) or, without Redis, from the
 * HTTP feed (HttpEventFeedConsumer), validated against the v1 contract.
 */
export { CcmEventConsumer, type CcmEventConsumerObserver, type CcmEventConsumerOptions, type CcmEventDelivery, type CcmEventHandler } from './ccm-event-consumer.js';
export { CursorStore, FileCursorStore, HttpEventFeedConsumer, InMemoryCursorStore, type HttpEventFeedObserver, type HttpEventFeedOptions } from './http-event-feed.js';
export { InvalidCcmEventError, parseCcmEvent, UnsupportedSchemaVersionError } from './event-validation.js';
export { EVENT_SCHEMA_VERSION, EVENT_TYPES, REVOCATION_REASONS, subscriberQueueName, type CcmEvent, type EventType, type RevocationReason } from './event-contract.js';
