/**
 * The routes that bring revisions into the server's mirrors: the bundle negotiation, a
 * try's bundle, and a fetch from a remote repository. Each answers with the source digest
 * of the revision's archive, which `POST /runs` takes as any uploaded tree. Like the other
 * submit routes they need the submit scope: what comes in is code that will run.
 */
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ArchiveTooLarge, UnsafeArchive } from '../archive/check.ts';
import type { Coordinator } from '../coordinator/coordinator.ts';
import { storeSource } from '../coordinator/source-archive.ts';
import { BodyTooLarge, saveBody } from '../util/save-body.ts';
import type { Db } from '../store/store.ts';
import type { TokenInfo } from '../store/tokens.ts';
import { newId } from '../util/ids.ts';
import { candidatesPerQuestion } from '../vcs/bundle.ts';
import { VcsError } from '../vcs/command.ts';
import { fullId, MirrorRefusal } from '../vcs/mirror-repo.ts';
import type { MirroredRevision, Mirrors } from '../vcs/mirrors.ts';
import { fail, readJson } from './errors.ts';
import { requireScope, userLimits, type UserAccess } from './user-routes.ts';

type Env = { Variables: { token: TokenInfo } };

const vcs = z.enum(['git', 'hg']);
const revisionId = z.string().regex(fullId, 'a full revision id (40 or 64 hex digits)');

export const knownBody = z.object({
  vcs,
  repository: revisionId.describe("the repository's identity: the full id of its first revision"),
  candidates: z.array(revisionId).max(candidatesPerQuestion).describe('revisions the client has; the answer names those the server has too'),
}).strict();

export const tryQuery = z.object({
  vcs,
  repository: revisionId,
  revision: revisionId.describe('the revision to try: the bundle must bring it unless the server has it'),
  public: revisionId.optional().describe("hg: the revision's newest public ancestor, shared history on the server too"),
}).strict();

export const fetchBody = z.object({
  repo: z.string().min(1).max(2000).describe('a file://, ssh://, http(s):// or git:// URL of a git or hg repository'),
  revision: z.string().min(1).max(255).regex(/^[^-\0-\x1f][^\0-\x1f]*$/, 'a branch, tag, bookmark or full revision id').describe('what to fetch'),
}).strict();

export function tryRoutes(coordinator: Coordinator, db: Db, access: UserAccess, mirrors: Mirrors): Hono<Env> {
  const app = new Hono<Env>();
  const need = requireScope(db, access);

  // The revision's files, kept as any uploaded tree is (checked member by member, named by digest).
  const keep = async (file: string) => storeSource(Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>, await coordinator.sources(), Number.MAX_SAFE_INTEGER, coordinator.archiveLimits);
  const answer = async (c: Context<Env>, work: () => Promise<MirroredRevision>, more: (revision: MirroredRevision) => Promise<object>) => {
    try {
      const revision = await work();
      return c.json({ ...revision, source: await mirrors.exportRevision(revision, keep), ...await more(revision) }, 201);
    } catch (error) {
      // The VCS's own words, without where the server keeps its mirrors.
      if (error instanceof VcsError) return fail(c, 422, `${error.vcs} says: ${(error.stderr.trim() || error.message).replaceAll(mirrors.settings.root, 'mirrors')}`);
      if (error instanceof MirrorRefusal) return fail(c, 422, error.message);
      if (error instanceof ArchiveTooLarge) return fail(c, 413, `the revision's files are refused: ${error.message}`);
      if (error instanceof UnsafeArchive) return fail(c, 422, `the revision's files are refused: ${error.message}`);
      throw error;
    }
  };

  app.post('/mirrors/known', need('submit'), async (c) => {
    const body = await readJson(c, knownBody, userLimits.jsonBytes);
    if (!body.ok) return body.response;
    const { vcs: tool, repository, candidates } = body.value;
    return c.json({ known: await mirrors.known(tool, repository, candidates) });
  });

  app.post('/tries', need('submit'), async (c) => {
    const query = tryQuery.safeParse(c.req.query());
    if (!query.success) return fail(c, 400, query.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const { vcs: tool, repository, revision, public: base } = query.data;
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > userLimits.sourceBytes) return fail(c, 413, bundleTooLarge);
    const incoming = join(mirrors.settings.root, 'incoming');
    mkdirSync(incoming, { recursive: true, mode: 0o700 });
    const file = join(incoming, `${newId('a')}.bundle`);
    try {
      let size = 0;
      try {
        if (c.req.raw.body) size = await saveBody(c.req.raw.body, file, userLimits.sourceBytes, 'the bundle');
      } catch (error) {
        if (error instanceof BodyTooLarge) return fail(c, 413, bundleTooLarge);
        if (c.req.raw.signal.aborted) return fail(c, 400, 'the upload ended before its body did');
        throw error;
      }
      return await answer(c, () => mirrors.receiveTry(tool, repository, revision, base ?? null, size > 0 ? file : null, Date.now()), async () => ({ bundle_bytes: size }));
    } finally {
      rmSync(file, { force: true });
    }
  });

  app.post('/fetches', need('submit'), async (c) => {
    const body = await readJson(c, fetchBody, userLimits.jsonBytes);
    if (!body.ok) return body.response;
    // What a run of it shows: its author and message, as the mirror has them.
    return answer(c, () => mirrors.fetch(body.value.repo, body.value.revision), (revision) => mirrors.describe(revision));
  });

  return app;
}

const bundleTooLarge = `the bundle is over ${userLimits.sourceBytes / 1024 / 1024} MiB`;
