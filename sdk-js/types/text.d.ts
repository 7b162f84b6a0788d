// Declarations of porchlight-sdk/text (src/text.js). Timestamps: BigInt seconds (numbers work).
import type { RequesterKind } from "porchlight:policy/types@0.1.0";
export const MAX_NAME: 80;
export const MAX_TEXT: 300;
export const MAX_CAMERAS: 12;
export function dateTime(ts: bigint | number, utcOffsetMinutes: number): string;
export function utc(ts: bigint | number): string;
export function hhmm(minutes: number): string;
export function duration(seconds: bigint | number): string;
export function isDirectionMark(c: string): boolean;
export function clean(text: string, maxChars: number): string;
export function quoted(text: string, maxChars: number): string;
export function cameraList(cameras: string[]): string;
export function requesterKind(kind: RequesterKind): string;
