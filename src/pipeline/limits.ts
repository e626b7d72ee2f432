/**
 * Bounds that keep a hostile or broken pipeline file from exhausting the coordinator:
 * each is far above what a real pipeline needs.
 */
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_TASKS = 10_000;
export const MAX_NAME_LENGTH = 100;
/**
 * Levels of nesting, each collection and scalar one (see nesting.ts): a pipeline needs
 * about eight, provider settings a few more.
 */
export const MAX_NESTING = 64;
/** Exclude entries are matched against every combination, so their number is bounded too. */
export const MAX_EXCLUDES_PER_STEP = 1_000;
/**
 * Nodes in the file with its aliases expanded: about what a plain 1 MiB file can hold,
 * so aliases cannot make a file costlier to check than the largest file without them.
 */
export const MAX_EXPANDED_NODES = 500_000;
/**
 * Passed to the yaml library, which counts alias uses weighted by nesting. A second guard:
 * MAX_EXPANDED_NODES measures the expansion exactly and is checked first.
 */
export const MAX_ALIAS_COUNT = 1_000;
/** Past this many mistakes the rest are noise (often one broken bracket)... */
export const MAX_DIAGNOSTICS = 100;
/** ...and past this many, checking stops, since finding and wording each one costs time. */
export const MAX_COLLECTED = 1_000;
