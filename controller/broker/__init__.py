"""The embedded MQTT broker, a product of its own: the amqtt server with its faults mended
(`server`), what it checks on the wire (`wire`), its
Mosquitto-syntax configuration (`conf`), access control (`access`, `auth`), retained-message
persistence (`retained`), and the offline administration of broker files shared with Mosquitto
(`profile`: the secure profile; `credentials`: accounts, written atomically with mode 0600)."""
