# frozen_string_literal: true

# Run by eventstorm-source/capi/tests/ruby.rs against a Rust subscriber:
#
#   EVENTSTORM_LIB=target/debug/libeventstorm.so \
#     ruby -I eventstorm-source/capi/ruby/lib emit_test.rb ENDPOINT COUNT
#
# Emits COUNT `order.placed` events and one log, counter, gauge and timer,
# checks the error rules, and prints the counters as its last line.

require "eventstorm"

def check(condition, what)
  raise "check failed: #{what}" unless condition
end

def raises(kind, what)
  yield
  raise "check failed: #{what} did not raise #{kind}"
rescue kind => e
  warn "as expected (#{what}): #{e.message}"
  e
end

endpoint, count = ARGV
count = Integer(count)
warn "libeventstorm #{Eventstorm.library_version}"

raises(Eventstorm::ConfigError, "a misspelt key") { Eventstorm::Client.new(conect: [endpoint]) }

client = Eventstorm::Client.new(connect: [endpoint], logger: "ruby-app", mode: :block,
                                wait_for_subscriber: 10)
count.times do |i|
  sent = client.emit("order.placed", { order_id: i, source: "ruby", total: 99.5,
                                       customer: { id: 7, name: "Zoë" }, tags: %w[a b] },
                     severity: i.odd? ? :notice : nil)
  check(sent, "order #{i} sent")
end
check(client.log(:warning, "payment provider slow"), "log sent")
check(client.incr("orders", count), "incr sent")
check(client.gauge("queue.depth", 17.5), "gauge sent")
value = client.timer("db.query") { :result }
check(value == :result, "the timer returns the block's value")

error = raises(Eventstorm::ArgumentError, "an invalid event type") { client.emit("bad type!", {}) }
check(error.message.include?("eventstorm_emit_json"), "the message names the function")
raises(Eventstorm::ArgumentError, "a string that is not UTF-8") { client.log(:info, "\xff\xfe".b) }
raises(Eventstorm::ArgumentError, "an unknown severity") { client.log(:loud, "x") }
raises(Eventstorm::ArgumentError, "bad BSON") { client.emit_bson("order.placed", "\x05\x00\x00".b) }

client.flush(10)
client.close
raises(Eventstorm::ClosedError, "emit after close") { client.emit("order.placed", {}) }
client.close
counters = client.counters
puts counters.map { |name, value| "#{name}=#{value}" }.join(" ")
