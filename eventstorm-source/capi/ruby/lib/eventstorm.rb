# frozen_string_literal: true

# Eventstorm for Ruby: the Eventstorm client (libeventstorm, the C API of
# the Rust client) through Fiddle, Ruby's standard FFI. No gem needed.
#
#   require "eventstorm"
#
#   client = Eventstorm::Client.new(connect: ["tcp://127.0.0.1:5555"], logger: "app")
#   client.emit("order.placed", { order_id: 42, total: 99.5 })
#   client.log(:warning, "payment provider slow")
#   client.incr("orders")
#   client.gauge("queue.depth", 17)
#   client.timer("db.query") { run_the_query }
#   client.counters   # => { emitted: 5, sent: 5, ... }
#   client.close
#
# The library is loaded from $EVENTSTORM_LIB when set (a path to
# libeventstorm.so), otherwise by name from the system's library path.
# docs/c-api.md says how to build and install it.

require "fiddle"
require "json"

module Eventstorm
  # A call failed: the message is libeventstorm's, `status` its return code.
  class Error < StandardError
    # The C API's status code (negative).
    attr_reader :status

    def initialize(message, status = nil)
      super(message)
      @status = status
    end
  end

  # An argument was refused: not UTF-8, JSON or BSON that is not an
  # object, an invalid event type, an unknown severity.
  class ArgumentError < Error; end

  # The configuration was refused.
  class ConfigError < Error; end

  # The client is closed.
  class ClosedError < Error; end

  # A flush did not finish in time.
  class TimeoutError < Error; end

  # The C functions, loaded once.
  module Native
    OK = 0
    NOT_SENT = 1
    ERRORS = {
      -1 => ArgumentError, # NULL argument
      -2 => ArgumentError, # not UTF-8
      -3 => ArgumentError,
      -4 => ConfigError,
      -5 => ClosedError,
      -6 => TimeoutError
    }.freeze
    SEVERITY_DEFAULT = -1

    P = Fiddle::TYPE_VOIDP
    I32 = Fiddle::TYPE_INT
    I64 = Fiddle::TYPE_LONG_LONG
    U64 = -Fiddle::TYPE_LONG_LONG
    F64 = Fiddle::TYPE_DOUBLE
    SIZE = Fiddle::TYPE_SIZE_T
    VOID = Fiddle::TYPE_VOID

    LIBRARY = Fiddle.dlopen(ENV.fetch("EVENTSTORM_LIB", "libeventstorm.so"))

    def self.function(name, args, ret)
      Fiddle::Function.new(LIBRARY[name], args, ret)
    end

    CLIENT_NEW = function("eventstorm_client_new", [P], P)
    CLIENT_CLOSE = function("eventstorm_client_close", [P], I32)
    CLIENT_FREE = function("eventstorm_client_free", [P], VOID)
    CLIENT_COUNTERS = function("eventstorm_client_counters", [P, P, SIZE], I32)
    FLUSH = function("eventstorm_flush", [P, U64], I32)
    EMIT_JSON = function("eventstorm_emit_json", [P, P, P, I32], I32)
    EMIT_BSON = function("eventstorm_emit_bson", [P, P, P, SIZE, I32], I32)
    LOG = function("eventstorm_log", [P, I32, P], I32)
    INCR = function("eventstorm_incr", [P, P, I64], I32)
    GAUGE = function("eventstorm_gauge", [P, P, F64], I32)
    TIMER = function("eventstorm_timer", [P, P, F64], I32)
    LAST_ERROR = function("eventstorm_last_error", [], P)
    VERSION = function("eventstorm_version", [], P)

    # The fields of EventstormCounters, in order (all uint64_t).
    COUNTERS = %i[emitted dropped_queue_full unsubscribed invalid sent bytes dropped_hwm
                  send_errors marks subscriptions unsubscriptions subscriptions_refused].freeze

    # The message of this thread's last error.
    def self.last_error
      LAST_ERROR.call.to_s.force_encoding(Encoding::UTF_8)
    end

    # A NUL-terminated copy of `text` for C. A NUL inside would cut it short.
    def self.c_string(text, what)
      text = text.to_s
      raise Eventstorm::ArgumentError, "#{what} contains a NUL character" if text.include?("\0")

      "#{text}\0"
    end

    # true for OK, false for NOT_SENT (counted by the client), raises otherwise.
    def self.check(status)
      return true if status == OK
      return false if status == NOT_SENT

      raise ERRORS.fetch(status, Error).new(last_error, status)
    end
  end

  # The version of the loaded libeventstorm.
  def self.library_version
    Native::VERSION.call.to_s
  end

  # Severities by name, as syslog's (0 most severe).
  SEVERITIES = {
    emerg: 0, alert: 1, crit: 2, critical: 2, err: 3, error: 3, warning: 4, warn: 4,
    notice: 5, info: 6, informational: 6, debug: 7
  }.freeze

  # An Eventstorm client: fire-and-forget events to subscribers, routers and
  # sinks over ZeroMQ. Thread-safe. Every emitting method returns true when
  # the event was handed to the publisher and false when the client did not
  # send it and counted why (nobody subscribed to the type, a full queue in
  # drop mode); a bad argument or a closed client raises.
  class Client
    # Keys are those of the Rust ClientConfig (docs/c-api.md): `connect` and
    # `bind` (endpoints), `logger`, `severity`, `mode` (:drop or :block),
    # `hwm`, `queue_capacity`, `wait_for_subscriber` (seconds), and any
    # other key of the configuration by its name.
    def initialize(connect: nil, bind: nil, wait_for_subscriber: nil, **config)
      config = config.transform_keys(&:to_s).transform_values { |v| v.is_a?(Symbol) ? v.to_s : v }
      config["connect"] = Array(connect) if connect
      config["bind"] = Array(bind) if bind
      config["wait_for_subscriber_ms"] = (wait_for_subscriber * 1000).round if wait_for_subscriber
      pointer = Native::CLIENT_NEW.call(Native.c_string(JSON.generate(config), "the configuration"))
      if pointer.null?
        message = Native.last_error
        raise(message.include?("could not start") ? Error : ConfigError, message)
      end
      @pointer = pointer
      ObjectSpace.define_finalizer(self, self.class.release(pointer))
    end

    # Frees the C client when the Ruby object is collected (closing it first
    # if it is still open).
    def self.release(pointer)
      proc { Native::CLIENT_FREE.call(pointer) }
    end

    # Emits an event of `type` whose body is `fields` (a Hash, sent as JSON:
    # keys in order, nested hashes and arrays up to 64 levels).
    def emit(type, fields = {}, severity: nil)
      json = JSON.generate(fields.to_h)
      Native.check(Native::EMIT_JSON.call(@pointer, Native.c_string(type, "the event type"),
                                          Native.c_string(json, "the body"), severity_code(severity)))
    end

    # Emits an event whose body is already BSON (a binary String holding
    # one document, e.g. from the bson gem's Hash#to_bson).
    def emit_bson(type, bson, severity: nil)
      bson = bson.to_s
      Native.check(Native::EMIT_BSON.call(@pointer, Native.c_string(type, "the event type"),
                                          bson, bson.bytesize, severity_code(severity)))
    end

    # Emits a log message (type `log`, body `{message}`).
    def log(severity, message)
      Native.check(Native::LOG.call(@pointer, severity_code(severity),
                                    Native.c_string(message, "the message")))
    end

    # Adds `n` to a counter (type `counter`, body `{name, value}`).
    def incr(name, n = 1)
      Native.check(Native::INCR.call(@pointer, Native.c_string(name, "the name"), Integer(n)))
    end

    # Reports a gauge's value (type `gauge`, body `{name, value}`).
    def gauge(name, value)
      Native.check(Native::GAUGE.call(@pointer, Native.c_string(name, "the name"), Float(value)))
    end

    # Times the block and emits its duration (type `timer`, body
    # `{name, elapsed_ms}`), also when the block raises; returns the block's
    # value. Without a block, emits `elapsed_ms` measured by the caller.
    def timer(name, elapsed_ms = nil)
      return emit_timer(name, elapsed_ms) unless block_given?

      start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      begin
        yield
      ensure
        emit_timer(name, (Process.clock_gettime(Process::CLOCK_MONOTONIC) - start) * 1000.0)
      end
    end

    # Waits until everything emitted so far was handed to the socket;
    # raises TimeoutError after `timeout` seconds.
    def flush(timeout = 5.0)
      Native.check(Native::FLUSH.call(@pointer, (timeout * 1000).round))
    end

    # The client's counters, a Hash of Symbol => Integer (readable after
    # close: the final counters).
    def counters
      size = Native::COUNTERS.size * 8
      out = Fiddle::Pointer.malloc(size, Fiddle::RUBY_FREE)
      Native.check(Native::CLIENT_COUNTERS.call(@pointer, out, size))
      Native::COUNTERS.zip(out[0, size].unpack("Q<*")).to_h
    end

    # Sends what is queued and final sequence marks, then stops the client.
    # Later calls raise ClosedError (but `counters`); closing again does
    # nothing.
    def close
      Native.check(Native::CLIENT_CLOSE.call(@pointer))
      nil
    end

    private

    def emit_timer(name, elapsed_ms)
      Native.check(Native::TIMER.call(@pointer, Native.c_string(name, "the name"), Float(elapsed_ms)))
    end

    def severity_code(severity)
      case severity
      when nil then Native::SEVERITY_DEFAULT
      when Integer then severity
      else SEVERITIES.fetch(severity.to_s.downcase.to_sym) do
        raise Eventstorm::ArgumentError, "unknown severity #{severity.inspect}: expected 0-7 or one of #{SEVERITIES.keys.join(', ')}"
      end
      end
    end
  end
end
