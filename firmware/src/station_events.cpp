#include "station_events.h"

#include <WiFi.h>

#include <cstring>
#include <string>

#include <fleet_core/identifiers.h>

namespace glue {
namespace {

struct StationEvent {
  bool joined = false;
  std::uint8_t mac[6] = {};
};

void enqueue(QueueHandle_t queue, std::atomic<bool>* lost, bool joined, const std::uint8_t mac[6]) {
  StationEvent event;
  event.joined = joined;
  std::memcpy(event.mac, mac, sizeof event.mac);
  if (xQueueSend(queue, &event, 0) != pdTRUE) *lost = true;  // never wait on the event task
}

}  // namespace

bool StationEvents::begin() {
  queue_ = xQueueCreate(kQueueLength, sizeof(StationEvent));
  if (queue_ == nullptr) return false;
  QueueHandle_t queue = queue_;
  std::atomic<bool>* lost = &lost_;
  WiFi.onEvent(
      [queue, lost](arduino_event_id_t, arduino_event_info_t info) {
        enqueue(queue, lost, true, info.wifi_ap_staconnected.mac);
      },
      ARDUINO_EVENT_WIFI_AP_STACONNECTED);
  WiFi.onEvent(
      [queue, lost](arduino_event_id_t, arduino_event_info_t info) {
        enqueue(queue, lost, false, info.wifi_ap_stadisconnected.mac);
      },
      ARDUINO_EVENT_WIFI_AP_STADISCONNECTED);
  return true;
}

bool StationEvents::drain(fleet::Device& device) {
  if (queue_ == nullptr) return true;
  StationEvent event;
  while (xQueueReceive(queue_, &event, 0) == pdTRUE) {
    const std::string station = fleet::formatMac(event.mac);
    if (event.joined) {
      device.joinStation(station);  // a refused one is deauthed from there (AccessPoint::release)
    } else {
      device.leaveStation(station);
    }
  }
  // A lost join is made up by the station's next portal request (StationTable::request); a lost
  // leave by the idle limit.
  return !lost_.exchange(false);
}

}  // namespace glue
