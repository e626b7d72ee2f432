/** What an AWS error means for us, read from the error code the SDK puts in `name`. */

export function errorCode(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/**
 * Errors that say "not here, not now, not this kind": another subnet, instance type or
 * market may succeed. Anything else (a bad image, a missing permission) would fail the same
 * way everywhere, so it is not retried.
 */
const capacityCodes = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientCapacity',
  'InsufficientFreeAddressesInSubnet',
  'Unsupported',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'VcpuLimitExceeded',
  'InstanceLimitExceeded',
]);

export function isCapacityError(error: unknown): boolean {
  return capacityCodes.has(errorCode(error));
}

/** Throttled, or the service failed on its side: the same request may succeed later. */
export function isTransient(error: unknown): boolean {
  const code = errorCode(error);
  if (code === 'RequestLimitExceeded' || code === 'Throttling' || code === 'ThrottlingException') return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export function isNotFound(error: unknown): boolean {
  return /\.NotFound$/.test(errorCode(error));
}
