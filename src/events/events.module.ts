/**
 * Events: subscribers, the HTTP feed and, when Redis is configured, the relay
 * that publishes the outbox to each subscriber's BullMQ queue.
 */
import { Global, Inject, Logger, Module, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { EventMetrics } from '../metrics/metrics.js';
import { Clock } from '../shared/clock.js';
import { BullmqEventPublisher } from './bullmq-event-publisher.js';
import { EventOutbox } from './event-outbox.js';
import { EventRelayStore } from './event-relay-store.js';
import { EventFeed, EventSubscriptions } from './event-subscriptions.js';
import { OutboxRelay } from './outbox-relay.js';
import { OutboxWakeup } from './outbox-wakeup.js';

@Global()
@Module({
  providers: [
    { provide: OutboxWakeup, useValue: new OutboxWakeup() },
    EventSubscriptions,
    {
      provide: EventFeed,
      inject: [EventOutbox, OutboxWakeup, CONFIGURATION],
      useFactory: (outbox: EventOutbox, wakeup: OutboxWakeup, config: Configuration) => new EventFeed(outbox, wakeup, config.events.relayPollMs),
    },
    {
      provide: OutboxRelay,
      inject: [CONFIGURATION, EventRelayStore, OutboxWakeup, Clock, EventMetrics],
      useFactory: (config: Configuration, store: EventRelayStore, wakeup: OutboxWakeup, clock: Clock, metrics: EventMetrics) =>
        config.events.redisUrl ? new OutboxRelay(store, new BullmqEventPublisher(config.events.redisUrl), wakeup, clock, config.events.relayPollMs, metrics) : null,
    },
  ],
  exports: [OutboxWakeup, EventSubscriptions, EventFeed],
})
export class EventsModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(OutboxRelay) private readonly relay: OutboxRelay | null) {}

  onApplicationBootstrap(): void {
    if (this.relay) this.relay.start();
    else new Logger('EventsModule').log('CCM_REDIS_URL is not set: events are kept in the outbox and served at GET /v1/events');
  }

  // Before the database closes (onApplicationShutdown), so the relay's last pass still has it.
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.relay) return;
    await this.relay.stop();
    new Logger('EventsModule').log('event relay stopped; events it had not published wait in the outbox for another replica or the next start');
  }
}
