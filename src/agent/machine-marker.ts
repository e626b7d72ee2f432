/**
 * The environment variable that marks every process of one local machine: the agent and
 * every script it runs. Its value names the machine (its work directory). Scripts get it
 * although they get nothing else of the agent's environment, so processes a killed agent
 * left behind can still be found and stopped by the machine's owner.
 */
export const machineMarker = 'SLIPWAY_MACHINE';
