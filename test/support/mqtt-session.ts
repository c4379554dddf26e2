/**
 * One device's MQTT session as the Mosquitto and RabbitMQ tests watch it:
 * when its CONNACK came (or that it never did), and when it closed.
 */
import type { MqttClient } from 'mqtt';

/** Resolves the client once its CONNACK came; rejects when the connection fails or closes before (`what` names the device in the error). */
export async function connack(client: MqttClient, what = 'the device'): Promise<MqttClient> {
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${what} closed before CONNACK`)));
  });
  return client;
}

/** performance.now() when the client's connection closes. */
export function closeOf(client: MqttClient): Promise<number> {
  return new Promise((resolve) => client.once('close', () => resolve(performance.now())));
}
