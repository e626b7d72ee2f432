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
 * Entries in one list or mapping: no list of a pipeline needs more than it has tasks (the
 * values of an axis, the steps, what a step needs). A 1 MiB file can hold a list of half
 * a million; parsing it took seconds and checking it overflowed the stack.
 */
export const MAX_ENTRIES = 10_000;
/**
 * Values in the file (scalars, lists and mappings, keys included), counted before parsing
 * and again with aliases expanded: far above what a pipeline holds (ten steps of a thousand
 * exclude entries each are about 50,000), and low enough that parsing and checking a file
 * takes about a second at most, and never more than the stack holds.
 */
export const MAX_VALUES = 100_000;
/**
 * Passed to the yaml library, which counts alias uses weighted by nesting. A second guard:
 * MAX_VALUES measures the expansion exactly and is checked first.
 */
export const MAX_ALIAS_COUNT = 1_000;
/** Past this many mistakes the rest are noise (often one broken bracket)... */
export const MAX_DIAGNOSTICS = 100;
/** ...and past this many, checking stops, since finding and wording each one costs time. */
export const MAX_COLLECTED = 1_000;
