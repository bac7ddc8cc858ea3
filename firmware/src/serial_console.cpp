#include "serial_console.h"

#include <Arduino.h>

#include <fleet_core/provisioning.h>

namespace glue {

SerialConsole::SerialConsole(fleet::Storage& storage, std::function<void()> reboot)
    : storage_(storage), reboot_(std::move(reboot)) {}

void SerialConsole::begin() {
  Serial.println("serial console ready: type `help`");
}

void SerialConsole::poll() {
  while (Serial.available() > 0) {
    const char c = static_cast<char>(Serial.read());
    if (c != '\n' && c != '\r') {
      if (line_.size() < kMaxLine) {
        line_.push_back(c);
      } else {
        overflow_ = true;
      }
      continue;
    }
    if (overflow_) {
      Serial.println("error: line too long");
    } else if (!line_.empty()) {
      const fleet::ConsoleOutput out =
          fleet::runConsoleCommand(fleet::parseConsoleLine(line_), storage_);
      Serial.print(out.text.c_str());
      if (out.reboot && reboot_) reboot_();
    }
    line_.clear();
    overflow_ = false;
  }
}

}  // namespace glue
