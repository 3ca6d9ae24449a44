-- UpdateItem: SET one number attribute of a random preloaded item.
local common = require "common"
common.install("UpdateItem", function()
  return '{"TableName":"' .. common.opts.hash_table .. '","Key":{"pk":{"S":"' ..
    common.hkey(common.random_index()) .. '"}},' ..
    '"UpdateExpression":"SET #n = :n","ExpressionAttributeNames":{"#n":"n"},' ..
    '"ExpressionAttributeValues":{":n":{"N":"' .. math.random(0, 999999) .. '"}}}'
end)
