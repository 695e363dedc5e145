package keys

import "strings"

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// HashTag returns the part of key Redis Cluster hashes: the text between the
// first '{' and the next '}' when that is non-empty, otherwise the whole key.
func HashTag(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return key
}

// Slot returns the Redis Cluster hash slot of key (CRC16/XMODEM of the hash
// tag, modulo 16384), as CLUSTER KEYSLOT computes it.
func Slot(key string) int {
	return int(crc16(HashTag(key)) % SlotCount)
}

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
