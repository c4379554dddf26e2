/** HTTP edge of events: subscriber registration and the event feed. */
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { EventFeed, EventSubscriptions } from '../events/event-subscriptions.js';
import { CreateEventSubscriberRequest, EventFeedQuery, EventPage, EventSubscriberResponse, eventResponse, eventSubscriberResponse } from './dtos.js';
import { visibleTenantFilter, type Actor } from '../access/actor.js';
import { Access, CurrentActor } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited } from './audit.interceptor.js';

@ApiTags('events')
@Controller('v1')
@Access('admin')
export class EventsController {
  constructor(
    private readonly subscriptions: EventSubscriptions,
    private readonly feed: EventFeed,
  ) {}

  @Post('event-subscribers')
  @Audited('event-subscriber.create', { target: 'event-subscriber', fromResponse: (created: EventSubscriberResponse) => ({ targetId: created.id, details: { name: created.name, tenantIds: created.tenantIds } }) })
  @HttpCode(201)
  @ApiOperation({ summary: 'Register a subscriber (a broker node or group): it gets its own BullMQ queue and every event committed from now on.' })
  @ApiCreatedResponse({ type: EventSubscriberResponse })
  async create(@Body() body: CreateEventSubscriberRequest): Promise<EventSubscriberResponse> {
    return eventSubscriberResponse(await this.subscriptions.create(body.name, body.tenantIds ?? null));
  }

  @Get('event-subscribers')
  @ApiOperation({ summary: 'List subscribers with their delivery positions.' })
  @ApiOkResponse({ type: [EventSubscriberResponse] })
  async list(): Promise<EventSubscriberResponse[]> {
    return (await this.subscriptions.list()).map(eventSubscriberResponse);
  }

  @Get('event-subscribers/:subscriberId')
  @ApiOperation({ summary: 'Read a subscriber.' })
  @ApiOkResponse({ type: EventSubscriberResponse })
  async get(@Param('subscriberId', new ParseIdPipe('event subscriber')) id: string): Promise<EventSubscriberResponse> {
    return eventSubscriberResponse(await this.subscriptions.get(id));
  }

  @Delete('event-subscribers/:subscriberId')
  @Audited('event-subscriber.delete', { target: 'event-subscriber', targetParam: 'subscriberId' })
  @HttpCode(204)
  @ApiOperation({ summary: 'Stop delivering to a subscriber. Its queue is left as it is, for its consumer to finish.' })
  @ApiNoContentResponse()
  async delete(@Param('subscriberId', new ParseIdPipe('event subscriber')) id: string): Promise<void> {
    await this.subscriptions.delete(id);
  }

  @Get('events')
  @Access('admin', 'broker', 'tenant')
  @ApiOperation({ summary: 'The event feed, oldest first, for installations without Redis or for catching up: read on with after=nextCursor; with waitMs, an empty page waits for the next event (long polling).' })
  @ApiOkResponse({ type: EventPage })
  async events(@CurrentActor() actor: Actor, @Query() query: EventFeedQuery, @Req() request: FastifyRequest): Promise<EventPage> {
    // A reader that hangs up while waiting frees its wait at once.
    const gone = new AbortController();
    const hangUp = (): void => gone.abort();
    // The socket, not the request: a request emits 'close' once its (empty) body is read.
    const socket = request.raw.socket;
    socket.once('close', hangUp);
    const page = await this.feed
      .read(query.after ?? null, query.limit ?? 100, visibleTenantFilter(actor, query.tenantId), query.waitMs ?? 0, gone.signal)
      .finally(() => socket.off('close', hangUp));
    return { items: page.items.map(eventResponse), nextCursor: page.nextCursor };
  }
}
