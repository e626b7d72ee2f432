/** Where an instance may be launched: a market, an instance type and a subnet. */
export type Market = 'spot' | 'on-demand';

export interface Placement {
  market: Market;
  instanceType: string;
  subnetId: string | undefined;
}

/**
 * Every placement to try, in order: spot before on-demand (spot anywhere is cheaper than
 * on-demand anywhere), then instance types in the configured order, then subnets.
 */
export function placements(spec: { instanceTypes: readonly string[]; subnets: readonly string[]; spot: boolean }): Placement[] {
  const markets: Market[] = spec.spot ? ['spot', 'on-demand'] : ['on-demand'];
  const subnets = spec.subnets.length > 0 ? spec.subnets : [undefined];
  return markets.flatMap((market) => spec.instanceTypes.flatMap((instanceType) => subnets.map((subnetId) => ({ market, instanceType, subnetId }))));
}
