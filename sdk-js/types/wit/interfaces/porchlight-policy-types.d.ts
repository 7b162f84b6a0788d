declare module 'porchlight:policy/types@0.1.0' {
  /**
   * Seconds since 1970-01-01T00:00:00Z.
   */
  export type Timestamp = bigint;
  /**
   * A closed interval of wall-clock time.
   */
  export interface TimeRange {
    start: Timestamp,
    end: Timestamp,
  }
  /**
   * # Variants
   * 
   * ## `"police"`
   * 
   * ## `"monitoring"`
   * 
   * ## `"insurer"`
   * 
   * ## `"neighbour"`
   * 
   * ## `"resident"`
   * 
   * ## `"other"`
   */
  export type RequesterKind = 'police' | 'monitoring' | 'insurer' | 'neighbour' | 'resident' | 'other';
  /**
   * Who is asking (or, for an offer, who would receive).
   */
  export interface Requester {
    organisation: string,
    person: string,
    kind: RequesterKind,
  }
  /**
   * Recorded footage from these cameras over this time.
   */
  export interface ClipRequest {
    cameras: Array<string>,
    range: TimeRange,
  }
  /**
   * A live stream from these cameras, for at most this long.
   */
  export interface LiveRequest {
    cameras: Array<string>,
    maxSeconds: number,
  }
  /**
   * One still image per camera.
   */
  export interface SnapshotRequest {
    cameras: Array<string>,
  }
  export type RequestKind = RequestKindClip | RequestKindLive | RequestKindSnapshot;
  export interface RequestKindClip {
    tag: 'clip',
    val: ClipRequest,
  }
  export interface RequestKindLive {
    tag: 'live',
    val: LiveRequest,
  }
  export interface RequestKindSnapshot {
    tag: 'snapshot',
    val: SnapshotRequest,
  }
  /**
   * What a warrant covers. An empty camera list means the warrant names no cameras (so it
   * covers none); `range` is the time it covers.
   */
  export interface WarrantScope {
    cameras: Array<string>,
    range: TimeRange,
  }
  export interface Warrant {
    reference: string,
    court: string,
    issued: Timestamp,
    expires: Timestamp,
    scope: WarrantScope,
  }
  export type LegalBasis = LegalBasisWarrant | LegalBasisExigent | LegalBasisConsent | LegalBasisNone;
  export interface LegalBasisWarrant {
    tag: 'warrant',
    val: Warrant,
  }
  /**
   * An emergency claimed by the requester, with their statement.
   */
  export interface LegalBasisExigent {
    tag: 'exigent',
    val: string,
  }
  export interface LegalBasisConsent {
    tag: 'consent',
  }
  export interface LegalBasisNone {
    tag: 'none',
  }
  export interface Request {
    id: string,
    requester: Requester,
    kind: RequestKind,
    reason: string,
    caseNumber?: string,
    legalBasis: LegalBasis,
    received: Timestamp,
  }
  /**
   * # Variants
   * 
   * ## `"home"`
   * 
   * ## `"away"`
   * 
   * ## `"night"`
   * 
   * ## `"vacation"`
   */
  export type HubMode = 'home' | 'away' | 'night' | 'vacation';
  /**
   * A camera as the resident configured it, with its recent activity.
   */
  export interface CameraInfo {
    name: string,
    /**
     * The resident's tags, e.g. "street", "indoor", "neighbour-facing", "doorbell".
     */
    tags: Array<string>,
    lastMotion?: Timestamp,
    lastDoorbell?: Timestamp,
    lastAlarm?: Timestamp,
  }
  /**
   * The hub's state when the decision is asked for.
   */
  export interface Context {
    now: Timestamp,
    mode: HubMode,
    /**
     * Privacy mode is on. The host denies every request and skips every event hook while it
     * is on, so a policy is never called with `true`; the field is there for completeness.
     */
    privacy: boolean,
    cameras: Array<CameraInfo>,
  }
  /**
   * What an `allow` permits. It may only narrow the request: the host denies any grant that
   * names a camera, a time or a duration the request did not ask for.
   */
  export interface Grant {
    /**
     * The cameras shared: a subset of the request's.
     */
    cameras: Array<string>,
    /**
     * For clips: the time shared, inside the request's range. `none` = the request's range.
     */
    range?: TimeRange,
    /**
     * For live: the longest stream, at most the request's. `none` = the request's.
     */
    liveMaxSeconds?: number,
    /**
     * Share video only.
     */
    stripAudio: boolean,
    /**
     * Tell the resident (MQTT, API) when this share happens.
     */
    notifyResident: boolean,
  }
  /**
   * Ask the resident; no answer within the timeout means deny.
   */
  export interface Ask {
    prompt: string,
    timeoutSeconds: number,
  }
  export type Decision = DecisionDeny | DecisionAsk | DecisionAllow;
  export interface DecisionDeny {
    tag: 'deny',
    val: string,
  }
  export interface DecisionAsk {
    tag: 'ask',
    val: Ask,
  }
  export interface DecisionAllow {
    tag: 'allow',
    val: Grant,
  }
  /**
   * # Variants
   * 
   * ## `"motion"`
   * 
   * ## `"doorbell"`
   * 
   * ## `"tamper"`
   * 
   * ## `"alarm"`
   */
  export type EventKind = 'motion' | 'doorbell' | 'tamper' | 'alarm';
  export interface Event {
    kind: EventKind,
    camera: string,
    time: Timestamp,
  }
  /**
   * A share a policy proposes on an event (e.g. live to the monitoring center when an alarm
   * fires while away). The host turns it into a request and decides it like any other, with
   * every policy, so an offer can never bypass the composition rules.
   */
  export interface Offer {
    recipient: Requester,
    kind: RequestKind,
    reason: string,
  }
  /**
   * # Variants
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
}
