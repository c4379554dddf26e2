/**
 * The states of an issued certificate's life cycle, named once for every
 * folder that speaks of them: the life cycle moves certificates between them
 * (lifecycle/certificate-transition.ts) and the metrics count the moves,
 * which the life cycle itself reports through a metrics port.
 */
export type LifeCycleState = 'inactive' | 'active' | 'suspended' | 'revoked';
