/// <reference path="./interfaces/porchlight-policy-types.d.ts" />
declare module 'porchlight:policy/policy@0.1.0' {
  export type Request = import('porchlight:policy/types@0.1.0').Request;
  export type Context = import('porchlight:policy/types@0.1.0').Context;
  export type Decision = import('porchlight:policy/types@0.1.0').Decision;
  export type Event = import('porchlight:policy/types@0.1.0').Event;
  export type Offer = import('porchlight:policy/types@0.1.0').Offer;
  export type LogLevel = import('porchlight:policy/types@0.1.0').LogLevel;
  export type * as PorchlightPolicyTypes010 from 'porchlight:policy/types@0.1.0'; // import porchlight:policy/types@0.1.0
  /**
  * Check this policy's configuration (the resident's TOML table for it, as JSON) at load
  * time. An error rejects the plugin with this message.
  */
  export function checkConfig(config: string): void;
  /**
  * Decide a request. `config` is the same JSON as `check-config` accepted.
  */
  export function decide(config: string, request: Request, context: Context): Decision;
  /**
  * React to an event: optionally offer a share.
  */
  export function onEvent(config: string, event: Event, context: Context): Offer | undefined;
  export type Option<T> = { tag: 'none' } | { tag: 'some', val: T };
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
