import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ArtifactOffer, ArtifactOfferAnswer } from '../protocol/worker.ts';

/** What the agent needs of its coordinator to keep a file: offer it, or send it the bytes. */
export interface ArtifactKeeper {
  offerArtifact(attemptId: string, offer: ArtifactOffer): Promise<ArtifactOfferAnswer>;
  artifact(attemptId: string, path: string, file: string): Promise<void>;
}

/**
 * Keeps one file an attempt made: hashed here, offered, and then either already kept (the
 * store has those bytes), sent to the coordinator, or PUT straight to the blob store's signed
 * URL and offered again, so the coordinator records it only once the store holds it.
 */
export async function keepArtifact(keeper: ArtifactKeeper, attemptId: string, path: string, file: string): Promise<void> {
  const offer = { path, ...await hashFile(file) };
  const answer = await keeper.offerArtifact(attemptId, offer);
  if ('kept' in answer) return;
  if ('send' in answer.upload) return keeper.artifact(attemptId, path, file);
  await putSigned(answer.upload.put, file);
  const again = await keeper.offerArtifact(attemptId, offer);
  if (!('kept' in again)) throw new Error(`uploaded to the blob store, but the coordinator does not find ${offer.sha256} there`);
}

/** A file's sha256 and size, read once. */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** PUTs a file to a URL the store signed, with the headers signed with it (and never the agent's credential). */
export async function putSigned(put: { url: string; headers: Record<string, string> }, file: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(put.url, {
      method: 'PUT', headers: put.headers, body: Readable.toWeb(createReadStream(file)) as ReadableStream, duplex: 'half',
    } as RequestInit);
  } catch (error) {
    throw new Error(`the blob store at ${new URL(put.url).origin} cannot be reached: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  if (!response.ok) throw new Error(`the blob store at ${new URL(put.url).origin} refused the upload (${response.status}): ${(await response.text()).slice(0, 300)}`);
  await response.body?.cancel();
}

/** GETs a blob from a URL the store signed. */
export async function getSigned(url: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`the blob store at ${new URL(url).origin} cannot be reached: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
  }
  if (!response.ok) throw new Error(`the blob store at ${new URL(url).origin} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return response;
}
