// Declarations of porchlight-sdk (src/index.js). The contract's own types are generated from
// sdk/wit/policy.wit into wit/ (`npm run types`; `npm test` checks they are current).
/// <reference path="./wit/interfaces/porchlight-policy-types.d.ts" />
import type * as W from "porchlight:policy/types@0.1.0";

export type { W as Types };
export type Request = W.Request;
export type Context = W.Context;
export type Decision = W.Decision;
export type Grant = W.Grant;
export type TimeRange = W.TimeRange;
export type CameraInfo = W.CameraInfo;
export type Event = W.Event;
export type Offer = W.Offer;
export type LogLevel = W.LogLevel;

export * as text from "./text.js";

export const LogLevel: { readonly debug: "debug"; readonly info: "info"; readonly warn: "warn"; readonly error: "error" };
export const U32_MAX: 4294967295;
export function log(level: LogLevel, message: string): void;
export function deny(reason: string): W.DecisionDeny;
export function ask(prompt: string, timeoutSeconds: number): W.DecisionAsk;
export function allow(grant: Grant): W.DecisionAllow;
export function cameras(request: Request): string[];
export function clipRange(request: Request): TimeRange | undefined;
export function camera(context: Context, name: string): CameraInfo | undefined;
export function hasTag(info: CameraInfo, tag: string): boolean;
export function everything(request: Request): Grant;
export function intersect(a: TimeRange, b: TimeRange): TimeRange | undefined;
export function min<T extends bigint | number>(a: T, b: T): T;
export function max<T extends bigint | number>(a: T, b: T): T;
export function debugString(s: string): string;
export class ConfigError extends Error {}
export type ConfigDefaults = Record<string, boolean | number | string | null>;
export function parseConfig<C extends ConfigDefaults>(text: string, defaults: C): C;
export interface PolicyDescription<C extends ConfigDefaults> {
  config?: C;
  check?(config: C): string | undefined | void;
  decide(config: C, request: Request, context: Context): Decision;
  onEvent?(config: C, event: Event, context: Context): Offer | undefined;
}
export function policy<C extends ConfigDefaults>(
  description: PolicyDescription<C>,
): {
  checkConfig(config: string): void;
  decide(config: string, request: Request, context: Context): Decision;
  onEvent(config: string, event: Event, context: Context): Offer | undefined;
};
