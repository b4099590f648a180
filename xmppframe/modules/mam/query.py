"""
Querying an archive (XEP-0313 §4, §5): the query form, paging with
XEP-0059, the results and C{<fin/>}, and the archive's metadata.

Filters: C{with}, C{start}, C{end} (§4.1.1, §4.1.2) and the C{#extended}
C{before-id}, C{after-id} and C{ids} (§4.1.3); paging with C{max} (capped
at C{max_page_size}, §4.3.1), C{after}, C{before} (the empty C{<before/>}
asks for the last page) and C{index}, and C{<flip-page/>} (§4.3.4).
C{<count/>} and C{index} are given when they cost no scan of the archive:
for unfiltered queries, and index 0 for the first page of any query.
A query waits for the account's archive writes under way, so it sees every
message delivered with a stanza id before it was asked.
"""

import binascii
import os

from lxml import etree

from xmppframe.api import InvalidJID
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.dataforms import Field, Form, FormError, buildForm, findForm, parseSubmittedForm
from xmppframe.xml.rsm import ResultSetRequest, buildResponse, findRequest
from xmppframe.xml.stanza import makeElement, makeStanza

from .ids import ArchiveIds, Record, formatStamp, parseStamp, storeTime

__all__ = ["QUERY_FIELDS", "ArchiveQueries", "Query", "parseQuery", "queryForm"]

#: The query form's fields (XEP-0313 §4.1.5, §10.2); none is required
#: (§4.1).
QUERY_FIELDS = (
    Field("with", "jid-single"),
    Field("start", "text-single"),
    Field("end", "text-single"),
    Field("before-id", "text-single"),
    Field("after-id", "text-single"),
    Field("ids", "list-multi"),
)
_QUERY_FIELD_NAMES = frozenset(f.var for f in QUERY_FIELDS)

_FLIP_PAGE = NS.qname(NS.MAM, "flip-page")

#: Extra items read per store call when a filter is applied after reading
#: (a 'with' with a resource).
_SCAN_BATCH = 100


class Query:
    """
    A parsed archive query: the filters that define the result set, and
    the page asked for.
    """

    __slots__ = ("with_", "start", "end", "beforeId", "afterId", "ids", "rsm", "flip")

    def __init__(self):
        self.with_ = self.start = self.end = None
        self.beforeId = self.afterId = self.ids = None
        self.rsm = ResultSetRequest()
        self.flip = False

    @property
    def filtered(self):
        """
        Whether the result set is less than the whole archive.
        """
        return any(value is not None for value in (
            self.with_, self.start, self.end, self.beforeId, self.afterId, self.ids))


def queryForm():
    """
    XEP-0313 §4.1.5: the C{<query/>} that lists the fields a query may use.
    """
    fields = [Field(f.var, f.type) for f in QUERY_FIELDS]
    query = makeElement(NS.MAM, "query")
    form = buildForm("form", NS.MAM, fields)
    # §4.1.5: 'ids' is open to any value (XEP-0122).
    for field in form:
        if field.get("var") == "ids":
            validate = etree.SubElement(
                field, NS.qname(NS.XDATA_VALIDATE, "validate"), {"datatype": "xs:string"},
                nsmap={None: NS.XDATA_VALIDATE})
            etree.SubElement(validate, NS.qname(NS.XDATA_VALIDATE, "open"))
    query.append(form)
    return query


def parseQuery(element, maxIds):
    """
    Read a C{<query/>} (XEP-0313 §4.1, §4.3) into a L{Query}.

    @param maxIds: the most ids an 'ids' field may name.
    @raise StanzaError: for what cannot be answered.
    """
    if element.get("node") is not None:
        raise StanzaError("item-not-found", text="This archive has no pubsub nodes")
    query = Query()
    formElement = findForm(element)
    if formElement is not None:
        _readForm(formElement, query, maxIds)
    query.rsm = findRequest(element) or ResultSetRequest()
    query.flip = element.find(_FLIP_PAGE) is not None
    return query


def _readForm(formElement, query, maxIds):
    try:
        form = Form.fromElement(formElement)
    except FormError as e:
        raise StanzaError("bad-request", text="Invalid data form: %s" % (e,))
    for field in form.fields:
        if field.var is not None and field.var not in _QUERY_FIELD_NAMES:
            # XEP-0313 §4.1.5.
            raise StanzaError("feature-not-implemented",
                              text="Unknown query field %r" % (field.var,))
    # XEP-0313 §4.1: the FORM_TYPE is urn:xmpp:mam:2; another one is
    # refused, a missing one forgiven.
    values = parseSubmittedForm(formElement, QUERY_FIELDS, formType=NS.MAM)
    query.with_ = values.get("with")
    for name in ("start", "end"):
        text = values.get(name)
        if text is None or not text.strip():
            continue
        try:
            setattr(query, name, parseStamp(text))
        except ValueError:
            raise StanzaError("bad-request", text="The field %r must be a XEP-0082 DateTime, "
                              "not %r" % (name, text))
    query.beforeId = values.get("before-id") or None
    query.afterId = values.get("after-id") or None
    ids = values.get("ids")
    if ids is not None:
        ids = [i for i in ids if i]
        if len(ids) > maxIds:
            raise StanzaError("policy-violation", text="At most %d ids per query" % (maxIds,))
        query.ids = ids


class ArchiveQueries:
    """
    Answers queries of the accounts' archives in C{store}.

    @param parseJID: prepares JIDs.
    @param reply: C{reply(event, stanza)} sends a stanza back the way a
        query came.
    @param queues: the archive writes' L{KeyedQueue}, waited for.
    """

    def __init__(self, store, parseJID, reply, queues, maxPageSize):
        self.store = store
        self._parseJID = parseJID
        self._reply = reply
        self._queues = queues
        self.maxPageSize = maxPageSize

    async def find(self, user, archiveId):
        """
        The stored record of C{archiveId}.

        @raise StanzaError: C{item-not-found} (XEP-0313 §4.1.3, §4.3.2).
        """
        micros = ArchiveIds.micros(archiveId)
        if micros is not None:
            when = storeTime(micros)
            for item in await self.store.query(user, start=when, end=when):
                record = Record(item)
                if record.archiveId == archiveId:
                    return record
        raise StanzaError("item-not-found", text="No message %r in the archive" % (archiveId,))

    def _matcher(self, query):
        """
        A test on records for what the store cannot filter by, or C{None}:
        a 'with' with a resource matches messages to or from exactly that
        full JID (XEP-0313 §4.1.1).
        """
        if query.with_ is None or query.with_.resource is None:
            return None
        wanted = query.with_
        parse = self._parseJID

        def matches(record):
            message = record.message()
            if message is None:
                return False
            for attribute in ("from", "to"):
                text = message.get(attribute)
                try:
                    if text is not None and parse(text) == wanted:
                        return True
                except InvalidJID:
                    pass
            return False
        return matches

    async def answer(self, event, query):
        """
        XEP-0313 §4.2, §4.3: send the page's results to the requesting
        session, then return the C{<fin/>}.
        """
        user = event.sender.localpart
        archiveJID = event.sender.bare
        # A message delivered with its stanza id may still be being
        # written: the query sees every message archived before it.
        await self._queues.idle(user)
        lower = upper = None
        if query.afterId is not None:
            lower = (await self.find(user, query.afterId)).storeId
        if query.beforeId is not None:
            upper = (await self.find(user, query.beforeId)).storeId
        rsm = query.rsm
        if rsm.after is not None:
            after = (await self.find(user, rsm.after)).storeId
            lower = after if lower is None else max(lower, after)
        if rsm.before:
            before = (await self.find(user, rsm.before)).storeId
            upper = before if upper is None else min(upper, before)
        limit = self.maxPageSize if rsm.max is None else min(rsm.max, self.maxPageSize)
        skip = rsm.index if (rsm.index is not None and rsm.after is None
                             and not rsm.backwards) else 0
        withText = None if query.with_ is None else query.with_.bare.full
        matches = self._matcher(query)
        if query.ids is not None:
            records = await self._byIds(user, query, lower, upper, withText, matches)
            if rsm.backwards:
                records.reverse()
            records = records[skip:skip + limit + 1]
        else:
            records = await self._scan(user, query, lower, upper, withText, matches,
                                       skip + limit + 1, rsm.backwards)
            records = records[skip:]
        complete = len(records) <= limit
        page = records[:limit]
        if rsm.backwards:
            page.reverse()
        count = None
        if not query.filtered:
            count = await self.store.count(user)
        # The index is given for pages counted from the start only.  On
        # the last page it would be count - len(page) (XEP-0059 §2.1), but
        # clients paging backwards (slixmpp's reverse ResultIterator) read
        # "index + items == count" as the end of their walk and stop after
        # one page; the index is optional (XEP-0313 §4.3.2).
        firstIndex = skip if page and not rsm.backwards and rsm.after is None else None
        queryId = event.stanza[0].get("queryid")
        to = event.origin.jid.full if event.origin is not None else event.sender.full
        for record in (reversed(page) if query.flip else page):
            self._reply(event, resultMessage(record, archiveJID, to, queryId))
        fin = makeElement(NS.MAM, "fin", {"complete": "true" if complete else "false"})
        if queryId is not None:
            fin.set("queryid", queryId)
        fin.append(buildResponse(
            page[0].archiveId if page else None, page[-1].archiveId if page else None,
            firstIndex, count))
        return fin

    async def _scan(self, user, query, lower, upper, withText, matches, wanted, backwards):
        """
        Read up to C{wanted} matching records from the store, in archive
        order (newest first when C{backwards}), between the store ids
        C{lower} and C{upper} (both excluded).
        """
        start = None if query.start is None else storeTime(query.start)
        end = None if query.end is None else storeTime(query.end)
        records = []
        while len(records) < wanted:
            batch = wanted - len(records)
            if matches is not None:
                batch = max(batch, _SCAN_BATCH)
            items = await self.store.query(
                user, with_=withText, start=start, end=end,
                after=None if lower is None else str(lower),
                before=None if upper is None else str(upper),
                limit=batch, reverse=backwards)
            for item in items:
                record = Record(item)
                if matches is None or matches(record):
                    records.append(record)
            if len(items) < batch:
                break
            if backwards:
                upper = int(items[-1].id)
            else:
                lower = int(items[-1].id)
        return records[:wanted]

    async def _byIds(self, user, query, lower, upper, withText, matches):
        """
        The records of the 'ids' field (XEP-0313 §4.1.3) that pass the
        other filters, in archive order.
        """
        found = {}
        for archiveId in query.ids:
            record = await self.find(user, archiveId)
            found[record.storeId] = record
        records = []
        for storeId in sorted(found):
            record = found[storeId]
            if ((lower is not None and storeId <= lower) or (upper is not None and storeId >= upper)
                    or (withText is not None and record.with_ != withText)
                    or (query.start is not None and record.micros < query.start)
                    or (query.end is not None and record.micros > query.end)
                    or (matches is not None and not matches(record))):
                continue
            records.append(record)
        return records

    async def metadata(self, user):
        """
        XEP-0313 §5: the first and last messages of C{user}'s archive.
        """
        await self._queues.idle(user)
        metadata = makeElement(NS.MAM, "metadata")
        first = await self.store.query(user, limit=1)
        if first:
            last = await self.store.query(user, limit=1, reverse=True)
            for name, item in (("start", first[0]), ("end", last[0])):
                record = Record(item)
                etree.SubElement(metadata, NS.qname(NS.MAM, name), {
                    "id": record.archiveId, "timestamp": formatStamp(record.micros)})
        return metadata


def resultMessage(record, archiveJID, to, queryId):
    """
    One result (XEP-0313 §4.2): the archived message forwarded
    (XEP-0297) with a XEP-0203 delay of when it was archived.
    """
    message = makeStanza("message", to=to, from_=archiveJID.full,
                         id=binascii.hexlify(os.urandom(6)).decode("ascii"))
    result = etree.SubElement(message, NS.qname(NS.MAM, "result"),
                              {"id": record.archiveId}, nsmap={None: NS.MAM})
    if queryId is not None:
        result.set("queryid", queryId)
    forwarded = etree.SubElement(result, NS.qname(NS.FORWARD, "forwarded"),
                                 nsmap={None: NS.FORWARD})
    etree.SubElement(forwarded, NS.qname(NS.DELAY, "delay"),
                     {"stamp": formatStamp(record.micros)}, nsmap={None: NS.DELAY})
    archived = record.message()
    if archived is not None:
        forwarded.append(archived)
    return message
