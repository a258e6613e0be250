//! Errors of the typed layer: instructions whose flags or arguments BuildKit refuses.

/// An instruction's `--flag` words do not fit what it accepts (BuildKit's BFlags).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag word not starting with `--`.
    #[error("arg should start with -- : {arg}")]
    NotAFlag {
        /// The word.
        arg: String,
    },
    /// A flag the instruction does not take.
    #[error("unknown flag: --{name}{}", crate::suggest::hint(.suggestion))]
    Unknown {
        /// Flag name without `--`.
        name: String,
        /// The instruction's flag within two edits, if any.
        suggestion: Option<String>,
    },
    /// A single-valued flag given twice.
    #[error("duplicate flag specified: --{name}")]
    Duplicate {
        /// Flag name without `--`.
        name: String,
    },
    /// `--name` without `=value` where a value is required (or `--bool=`).
    #[error("missing a value on flag: --{name}")]
    MissingValue {
        /// Flag name without `--`.
        name: String,
    },
    /// A boolean flag with a value other than true or false.
    #[error("expecting boolean value for flag --{name}, not: {value}")]
    NotBool {
        /// Flag name without `--`.
        name: String,
        /// The value given.
        value: String,
    },
}

/// An EXPOSE port that is not `port[/proto]` or `start-end[/proto]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Not a port number or range.
    #[error("invalid EXPOSE port {spec:?}: expected port[/proto] or start-end[/proto]")]
    Invalid {
        /// The port as written.
        spec: String,
    },
    /// A protocol other than tcp, udp or sctp.
    #[error("invalid EXPOSE proto {proto:?} in {spec:?}")]
    Proto {
        /// The protocol.
        proto: String,
        /// The port as written.
        spec: String,
    },
    /// `start-end` with start above end.
    #[error("invalid EXPOSE range {spec:?}: start is above end")]
    ReversedRange {
        /// The port as written.
        spec: String,
    },
}

/// A duration Go's `time.ParseDuration` refuses (its messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Malformed or out of range.
    #[error("time: invalid duration {text:?}")]
    Invalid {
        /// The duration as written.
        text: String,
    },
    /// A number without a unit.
    #[error("time: missing unit in duration {text:?}")]
    MissingUnit {
        /// The duration as written.
        text: String,
    },
    /// A unit other than ns, us, µs, ms, s, m, h.
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit {
        /// The unit.
        unit: String,
        /// The duration as written.
        text: String,
    },
}

/// An instruction with invalid arguments, or stages that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    /// No arguments where at least one is needed.
    #[error("{instruction} requires at least one argument")]
    AtLeastOne {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// Not exactly one argument (WORKDIR, USER, STOPSIGNAL, MAINTAINER).
    #[error("{instruction} requires exactly one argument")]
    ExactlyOne {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// ENV/LABEL items that are not key/value triples.
    #[error("{instruction} has the wrong number of arguments")]
    WrongNumber {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// An empty ENV/LABEL/ARG name.
    #[error("{instruction} names can not be blank")]
    BlankName {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// COPY/ADD with fewer than two arguments.
    #[error("{instruction} requires at least two arguments, but only one was provided. Destination could not be determined.")]
    NoDestination {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// COPY/ADD whose destination is a heredoc.
    #[error("{instruction} cannot accept a heredoc as a destination")]
    HeredocDestination {
        /// The instruction keyword, upper-case.
        instruction: &'static str,
    },
    /// SHELL in shell form.
    #[error("SHELL requires the arguments to be in JSON form")]
    ShellNotJson,
    /// An empty VOLUME path.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `RUN --network=` other than default, none or host.
    #[error("unsupported network mode {value:?}")]
    Network {
        /// The value given.
        value: String,
    },
    /// `RUN --security=` other than sandbox or insecure.
    #[error("unsupported security mode {value:?}")]
    Security {
        /// The value given.
        value: String,
    },
    /// `ONBUILD ONBUILD`.
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// `ONBUILD FROM` / `ONBUILD MAINTAINER`.
    #[error("{instruction} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger {
        /// The trigger's keyword, upper-case.
        instruction: String,
    },
    /// An ONBUILD trigger text that is not exactly one instruction.
    #[error("ONBUILD trigger must be one instruction: {text:?}")]
    TriggerNotOne {
        /// The trigger text.
        text: String,
    },
    /// FROM with other than `image` or `image AS name`.
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    /// An `AS` name BuildKit refuses.
    #[error(
        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
    )]
    StageName {
        /// The name, lower-cased.
        name: String,
    },
    /// Two stages with the same name.
    #[error("duplicate stage name {name:?}")]
    DuplicateStage {
        /// The name, lower-cased.
        name: String,
    },
    /// An instruction other than ARG before the first FROM.
    #[error("no build stage in current context")]
    NoStage,
    /// No FROM at all.
    #[error("dockerfile contains no stages to build")]
    NoStages,
    /// FROM where only other instructions may appear (an ONBUILD trigger).
    #[error("FROM is not allowed here")]
    FromNotAllowed,
    /// A keyword that is not an instruction.
    #[error("unknown instruction: {word}{}", crate::suggest::hint(.suggestion))]
    Unknown {
        /// The keyword as written.
        word: String,
        /// The instruction within two edits, in the keyword's case (BuildKit's hint).
        suggestion: Option<String>,
    },
    /// `HEALTHCHECK NONE` with arguments.
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArgs,
    /// `HEALTHCHECK X` with X other than CMD or NONE.
    #[error("Unknown type {kind:?} in HEALTHCHECK (try CMD)")]
    HealthcheckType {
        /// The type word, upper-cased.
        kind: String,
    },
    /// `HEALTHCHECK CMD` without a command.
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckCommand,
    /// A HEALTHCHECK duration flag that is not a Go duration.
    #[error("invalid --{flag}")]
    Duration {
        /// The flag name without `--`.
        flag: &'static str,
        /// Why the duration does not parse.
        #[source]
        source: DurationError,
    },
    /// A HEALTHCHECK duration below 1ms (zero means "inherit").
    #[error("Interval \"{flag}\" cannot be less than 1ms")]
    DurationTooShort {
        /// The flag name without `--`.
        flag: &'static str,
    },
    /// A negative HEALTHCHECK duration.
    #[error("--{flag}: duration out of range")]
    DurationRange {
        /// The flag name without `--`.
        flag: &'static str,
    },
    /// `--retries` that is not a 32-bit integer.
    #[error("--retries: invalid number {value:?}")]
    Retries {
        /// The value given.
        value: String,
    },
    /// A negative `--retries`.
    #[error("--retries cannot be negative ({value})")]
    NegativeRetries {
        /// The value given.
        value: i64,
    },
    /// An EXPOSE port that is not one.
    #[error(transparent)]
    Port(#[from] PortError),
}
