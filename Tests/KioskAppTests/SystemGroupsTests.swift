// Group ids for the sockets' access checks: /etc/group read directly, NSS only for other names.

import Foundation
import Testing
@testable import KioskApp

@Suite struct SystemGroupsTests {
    @Test func aGroupFileLineGivesItsId() {
        let text = """
            root:x:0:
            kioskadmins:x:998:alice
            kioskadm:x:997:
            broken line without fields
            kioskscreen:x:notanumber:
            kioskscreen:x:996:kiosk,staff
            """
        #expect(SystemGroups.gid(named: "kioskadm", inGroupFile: text) == 997)
        #expect(SystemGroups.gid(named: "kioskscreen", inGroupFile: text) == 996)
        #expect(SystemGroups.gid(named: "kiosk", inGroupFile: text) == nil)
        #expect(SystemGroups.gid(named: "", inGroupFile: text) == nil)
    }

    @Test func aNameNotInTheFileGoesThroughNSS() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("groups-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("group").path
        try Data().write(to: URL(fileURLWithPath: empty))
        // root is in every system's group database; an unreadable or empty file falls back to it.
        #expect(SystemGroups.gid(named: "root", groupFile: empty) == 0)
        #expect(SystemGroups.gid(named: "root", groupFile: dir.appendingPathComponent("missing").path) == 0)
        #expect(SystemGroups.gid(named: "no-such-group-\(UUID().uuidString.prefix(8))", groupFile: empty) == nil)
    }
}
