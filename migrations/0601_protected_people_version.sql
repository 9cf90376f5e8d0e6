-- A version of the protected-people list, changed by every statement that changes the list, so a
-- process can keep its name index (policies.protected) and re-read the list only when it moved.
-- Writers of the list (admins, rarely) therefore wait for one another's commit.
-- A random uuid rather than a counter: two databases never share a version unless one was cloned
-- from the other and neither changed since, when their lists are the same.
CREATE TABLE protected_people_version (
    only_row  boolean PRIMARY KEY DEFAULT true,
    version   uuid NOT NULL,
    CONSTRAINT protected_people_version_one_row CHECK (only_row)
);
INSERT INTO protected_people_version (version) VALUES (gen_random_uuid());

CREATE FUNCTION protected_people_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE protected_people_version SET version = gen_random_uuid();
    RETURN NULL;
END $$;

CREATE TRIGGER protected_people_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON protected_people
    FOR EACH STATEMENT EXECUTE FUNCTION protected_people_changed();
