// fleet_core: the device logic of the attendance fleet, free of Arduino and of any platform.
// Including this header pulls the whole library (and lets PlatformIO's dependency finder see it).
#pragma once

#include "fleet_core/attendance_batch.h"
#include "fleet_core/backoff.h"
#include "fleet_core/boot_counter.h"
#include "fleet_core/checkin_queue.h"
#include "fleet_core/config.h"
#include "fleet_core/connect_policy.h"
#include "fleet_core/decode_result.h"
#include "fleet_core/device.h"
#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"
#include "fleet_core/portal.h"
#include "fleet_core/portal_backend.h"
#include "fleet_core/ports.h"
#include "fleet_core/provisioning.h"
#include "fleet_core/seen_students.h"
#include "fleet_core/storage_keys.h"
#include "fleet_core/topics.h"
#include "fleet_core/version.h"
