// The soft AP's association events handed from the Wi-Fi event task to loop(): WiFi.onEvent
// callbacks run on arduino-esp32's event task, so they only put (joined or left, MAC) into a
// FreeRTOS queue, and drain() gives them to the core's station table (fleet::Device) on the loop
// task. The radio admits one station past the kApMaxConnections slots (soft_access_point.cpp), so
// a phone joining a full access point raises its event too: the core refuses it, counts it and
// releases it (a deauth) at once. Past that spare slot ESP-IDF 4.4 refuses without an event.
#pragma once

#include <freertos/FreeRTOS.h>
#include <freertos/queue.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <fleet_core/device.h>

namespace glue {

class StationEvents {
 public:
  // Two events per radio slot: a whole turnover of the access point, spare slot included,
  // between two loop() passes fits.
  static constexpr std::size_t kQueueLength = 2 * fleet::kApRadioConnections;

  // Creates the queue and registers the event handlers (once, in setup()); the handlers keep
  // pointers into this object, which lives as long as the program.
  bool begin();
  // On the loop task: every queued event to `device`; false once when events were lost.
  bool drain(fleet::Device& device);

 private:
  QueueHandle_t queue_ = nullptr;
  std::atomic<bool> lost_{false};  // set by the event task when the queue was full
};

}  // namespace glue
