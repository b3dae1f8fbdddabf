"""Who may do what. Pure rules over facts the services load; no I/O here.

Roles are not one column: a person can host one show, moderate another and work for a
brand. `Actor` carries what a request's user is; `ShowFacts` what a show's staff are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hawker.domain.errors import Forbidden, NotSignedIn


class Role(StrEnum):
    VIEWER = "viewer"
    HOST = "host"
    MODERATOR = "moderator"
    MERCHANT = "merchant"
    AGENCY = "agency"
    ADMIN = "admin"


class Action(StrEnum):
    SHOW_WATCH = "show.watch"
    CHAT_SEND = "chat.send"
    LIKE = "like"
    SHOW_CREATE = "show.create"
    SHOW_MANAGE = "show.manage"  # edit, go live, end, stream key, moderators, shelf
    SHELF_PIN = "shelf.pin"
    CHAT_MODERATE = "chat.moderate"  # hide, mute, ban, slow mode, banned words
    SHOW_REQUESTS = "show.requests"  # see request counts, the whole chat
    BRAND_CREATE = "brand.create"
    CATALOG_EDIT = "catalog.edit"
    AGENCY_CREATE = "agency.create"
    AGENCY_MANAGE = "agency.manage"
    ROLES_GRANT = "roles.grant"
    BATTLE_RUN = "battle.run"  # start a head-to-head battle with another show, or end it


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    is_admin: bool = False
    is_host: bool = False
    brand_ids: frozenset[int] = field(default_factory=frozenset)
    agency_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Actor(user_id=None)


@dataclass(frozen=True, slots=True)
class ShowFacts:
    host_id: int
    moderator_ids: frozenset[int] = field(default_factory=frozenset)
    host_agency_ids: frozenset[int] = field(default_factory=frozenset)


def roles_in_show(actor: Actor, show: ShowFacts) -> set[Role]:
    roles: set[Role] = set()
    if actor.user_id is None:
        return roles
    roles.add(Role.VIEWER)
    if actor.is_admin:
        roles.add(Role.ADMIN)
    if actor.user_id == show.host_id:
        roles.add(Role.HOST)
    if actor.user_id in show.moderator_ids:
        roles.add(Role.MODERATOR)
    if actor.agency_ids & show.host_agency_ids:
        # An agency producer runs the show beside the host it signed.
        roles.add(Role.AGENCY)
    return roles


_SHOW_RULES: dict[Action, frozenset[Role]] = {
    Action.CHAT_SEND: frozenset({Role.VIEWER}),
    Action.LIKE: frozenset({Role.VIEWER}),
    Action.SHOW_MANAGE: frozenset({Role.HOST, Role.AGENCY, Role.ADMIN}),
    Action.SHELF_PIN: frozenset({Role.HOST, Role.MODERATOR, Role.AGENCY, Role.ADMIN}),
    Action.CHAT_MODERATE: frozenset({Role.HOST, Role.MODERATOR, Role.AGENCY, Role.ADMIN}),
    Action.SHOW_REQUESTS: frozenset({Role.HOST, Role.MODERATOR, Role.AGENCY, Role.ADMIN}),
    Action.BATTLE_RUN: frozenset({Role.HOST, Role.AGENCY, Role.ADMIN}),
}


def may_in_show(actor: Actor, action: Action, show: ShowFacts) -> bool:
    if action is Action.SHOW_WATCH:
        return True
    allowed = _SHOW_RULES.get(action)
    if allowed is None:
        raise ValueError(f"{action} is not a show action")
    return bool(roles_in_show(actor, show) & allowed)


def check_in_show(actor: Actor, action: Action, show: ShowFacts) -> None:
    if may_in_show(actor, action, show):
        return
    if not actor.signed_in:
        raise NotSignedIn("sign in first")
    raise Forbidden(f"you may not do {action.value} in this show")


def is_staff(actor: Actor, show: ShowFacts) -> bool:
    return may_in_show(actor, Action.SHOW_REQUESTS, show)


def check_signed_in(actor: Actor) -> int:
    if actor.user_id is None:
        raise NotSignedIn("sign in first")
    return actor.user_id


def may_see_party(
    actor: Actor, party: str, party_id: int, host_agency_ids: frozenset[int] = frozenset()
) -> bool:
    """Whether `actor` may see a host's, an agency's or a brand's calendar and figures: a
    host its own (and the staff of the agencies that signed it), an agency's staff their
    agency's, a brand's staff their brand's; an admin everyone's."""
    check_signed_in(actor)
    if actor.is_admin:
        return True
    if party == "host":
        return party_id == actor.user_id or bool(actor.agency_ids & host_agency_ids)
    if party == "agency":
        return party_id in actor.agency_ids
    return party == "brand" and party_id in actor.brand_ids


def check_may_create_show(actor: Actor, host_id: int, host_agency_ids: frozenset[int]) -> None:
    """A host schedules its own shows; its agency's staff and admins may book it too."""
    check_signed_in(actor)
    if actor.is_admin:
        return
    if actor.user_id == host_id and actor.is_host:
        return
    if actor.agency_ids & host_agency_ids:
        return
    raise Forbidden("only the host, its agency or an admin may schedule a show for this host")


def check_brand_staff(actor: Actor, brand_id: int) -> None:
    check_signed_in(actor)
    if actor.is_admin or brand_id in actor.brand_ids:
        return
    raise Forbidden("only this brand's staff may change its catalog")


def check_agency_staff(actor: Actor, agency_id: int) -> None:
    check_signed_in(actor)
    if actor.is_admin or agency_id in actor.agency_ids:
        return
    raise Forbidden("only this agency's staff may do that")


def check_admin(actor: Actor) -> None:
    check_signed_in(actor)
    if not actor.is_admin:
        raise Forbidden("only an admin may do that")


# -- the business: contracts and settlements ---------------------------------------------


def check_party(actor: Actor, party: str, party_id: int) -> None:
    """Figures are seen (and settled) by their own party: a brand's staff, an agency's staff,
    the host itself; an admin sees all."""
    check_signed_in(actor)
    if actor.is_admin:
        return
    if party == "brand" and party_id in actor.brand_ids:
        return
    if party == "agency" and party_id in actor.agency_ids:
        return
    if party == "host" and party_id == actor.user_id:
        return
    raise Forbidden(f"only the {party} itself (or an admin) may see or settle these figures")


def may_see_contract(
    actor: Actor, *, brand_id: int, agency_id: int | None, host_id: int | None
) -> bool:
    """The brand's staff, the agency's staff or the host it is with, and admins."""
    if actor.user_id is None:
        return False
    return (
        actor.is_admin
        or brand_id in actor.brand_ids
        or (agency_id is not None and agency_id in actor.agency_ids)
        or (host_id is not None and host_id == actor.user_id)
    )


def check_contract_party(actor: Actor, *, agency_id: int | None, host_id: int | None) -> None:
    """The other side of a brand's offer answers it and books shows under it: the agency's
    staff, or the host of a contract with a host directly (or an admin)."""
    check_signed_in(actor)
    if actor.is_admin:
        return
    if agency_id is not None and agency_id in actor.agency_ids:
        return
    if host_id is not None and host_id == actor.user_id:
        return
    raise Forbidden("only the agency or host this contract is with may do that")


# -- competitions and battles -------------------------------------------------------------


def check_may_organise(actor: Actor, organizer: str, organizer_id: int | None) -> None:
    """An admin runs a competition open to any host or show; an agency's staff one for the
    agency's hosts; a brand's staff one for the shows that sell the brand's products (which
    entrants are eligible is domain/competitions.py's `check_eligible`)."""
    check_signed_in(actor)
    if actor.is_admin:
        return
    if organizer == "agency" and organizer_id in actor.agency_ids:
        return
    if organizer == "brand" and organizer_id in actor.brand_ids:
        return
    if organizer == "admin":
        raise Forbidden("only an admin may run a competition open to every host")
    raise Forbidden(f"only this {organizer}'s staff (or an admin) may run its competitions")


def check_may_run_battle(actor: Actor, shows: tuple[ShowFacts, ...]) -> None:
    """A battle is started (and may be ended early) by the host of either show, the host's
    agency or an admin: one side challenges the other."""
    if any(may_in_show(actor, Action.BATTLE_RUN, show) for show in shows):
        return
    if not actor.signed_in:
        raise NotSignedIn("sign in first")
    raise Forbidden("only the host of one of the two shows, its agency or an admin may do that")
