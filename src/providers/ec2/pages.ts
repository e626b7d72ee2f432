import { withBackoff, type BackoffOptions } from './backoff.ts';

/**
 * Every page of a paginated Describe call, each request under withBackoff: the SDK's
 * paginators would send them with no retry, so one throttled page would end the listing.
 */
export async function* pages<T extends { NextToken?: string | undefined }>(
  fetch: (nextToken: string | undefined) => Promise<T>,
  backoff?: BackoffOptions,
): AsyncGenerator<T> {
  let nextToken: string | undefined;
  do {
    const page = await withBackoff(() => fetch(nextToken), backoff);
    yield page;
    nextToken = page.NextToken;
  } while (nextToken);
}
